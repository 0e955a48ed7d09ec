# face_state: carry: the node's working face files go along into the version it switches to
# (operations/models.py: carry_faces). The target's own node-modified copies are archived first.
# Set before this body: what dir from to files
: "${dir?}" "${from?}" "${to?}" "${files?}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
for f in $files; do
    [ -f "$dir/$from/$f" ] || continue
    if [ -f "$dir/$to/$f" ] && cmp -s "$dir/$from/$f" "$dir/$to/$f"; then continue; fi
    archive_faces "$dir/$to" "$stamp" "$f"
    { cp -p "$dir/$from/$f" "$dir/$to/.$f.carry" && mv -f "$dir/$to/.$f.carry" "$dir/$to/$f"; } \
        || fail "cannot carry $f from $from to $to"
    echo "sentinelcam: carried $f from $from to $to"
done
