# Remove old versions of one model (operations/models.py: prune). Only version directories with a
# well-formed manifest are removed; node-modified face files are archived beside them first.
# Set before this body: what root model versions owned
: "${root?}" "${model?}" "${versions?}" "${owned?}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
for v in $versions; do
    d="$root/$model/$v"
    { [ -d "$d" ] && [ ! -L "$d" ] && manifest_ok "$d"; } || continue
    # shellcheck disable=SC2086  # $owned: node-owned file names
    [ -z "$owned" ] || archive_faces "$d" "$stamp" $owned
    trash="$root/$model/.$v.deleting"
    # Rename first: the version vanishes from its name at once, never half-deleted.
    { rm -rf "$trash" && mv -T "$d" "$trash" && rm -rf "$trash"; } || fail "cannot remove $d"
    echo "sentinelcam: pruned $model $v"
done
