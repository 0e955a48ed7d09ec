"""The imperative shell towards the fleet, through pyinfra: loading inventories, the one pre-flight
every deploy shares, the fleet query behind ``drift``, the store on the primary datasink over SSH,
and applying registry changes (commit, policy, redeploy)."""
