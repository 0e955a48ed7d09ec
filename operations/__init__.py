"""Custom pyinfra operations for model versions, configs, services, the health gate, the Coral
runtime and node-to-datasink trust. Their shell bodies live in ``operations/scripts/``."""
