"""The pure core: registry, catalog, host settings, validation, plans, configs as values, drift,
retention choice, registry changes and rollouts. Values in, values out: no pyinfra, no processes,
no file system (an import-linter contract checks it)."""
