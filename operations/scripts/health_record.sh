# The health record of a gate with nothing to judge (no restarted service, no probe, no host
# check: it can only pass), written by the command that wrote the configs, instead of a gate
# program of its own (operations/health.py: passed_record). The record is what health_gate.py
# writes when it passes, with the node's time. Set before this body: what record head tail (the
# record's JSON before and after its time).
: "${record?}" "${head?}" "${tail?}"
temp_beside "$record"
printf '%s%s%s\n' "$head" "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" "$tail" > "$tmp" \
    || { rm -f "$tmp"; fail "cannot write $tmp"; }
put_in_place "$tmp" "$record"
echo "sentinelcam: health gate passed (0 probe(s), services: no restarted service)"
