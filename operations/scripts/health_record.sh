# The health record of a gate with nothing to judge (no restarted service, no probe, no host
# check: it can only pass), written by the command that wrote the configs, instead of a gate
# program of its own (operations/health.py: passed_record). The record is what health_gate.py
# writes when it passes, with the node's time. Set before this body: what record head tail (the
# record's JSON before and after its time).
: "${record?}" "${head?}" "${tail?}"
rdir=${record%/*}
rtmp="$rdir/.${record##*/}.sentinelcam-tmp"
[ -d "$rdir" ] || mkdir -p "$rdir" || fail "cannot create $rdir"
if [ -e "$rtmp" ] || [ -L "$rtmp" ]; then rm -f "$rtmp" || fail "cannot remove $rtmp"; fi
printf '%s%s%s\n' "$head" "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" "$tail" > "$rtmp" \
    || { rm -f "$rtmp"; fail "cannot write $rtmp"; }
if [ -f "$record" ]; then chmod --reference="$record" "$rtmp"; else chmod 0644 "$rtmp"; fi
mv -f "$rtmp" "$record" || { rm -f "$rtmp"; fail "cannot rename into $record"; }
echo "sentinelcam: health gate passed (0 probe(s), services: no restarted service)"
