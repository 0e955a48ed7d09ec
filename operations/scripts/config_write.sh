# Write one config file atomically with exactly the given bytes (operations/configs.py: file).
# The file keeps its mode; a new file gets 0644. Set before this body: what dest content digest
# (content is the file's bytes in base64: any encoding travels exactly).
: "${dest?}" "${content?}" "${digest?}"
dir=${dest%/*}
name=${dest##*/}
tmp="$dir/.$name.sentinelcam-tmp"
mkdir -p "$dir" || fail "cannot create $dir"
printf '%s' "$content" | base64 -d > "$tmp" || { rm -f "$tmp"; fail "cannot write $tmp"; }
got=$(sha256sum < "$tmp" | cut -c1-64)
[ "$got" = "$digest" ] || { rm -f "$tmp"; fail "the bytes written differ from the rendered config"; }
if [ -f "$dest" ]; then chmod --reference="$dest" "$tmp"; else chmod 0644 "$tmp"; fi
mv -f "$tmp" "$dest" || { rm -f "$tmp"; fail "cannot rename into $dest"; }
