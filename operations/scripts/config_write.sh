# Write one config file atomically with exactly the given bytes (operations/configs.py: file).
# The file keeps its mode; a new file gets 0644 (a chmod: a directory's default ACL overrides the
# umask). Set before this body: what dest content digest (content is the file's bytes in base64:
# any encoding travels exactly). Four processes per file (base64, sha256sum, chmod, mv): a
# sentinel writes five at once.
: "${dest?}" "${content?}" "${digest?}"
dir=${dest%/*}
name=${dest##*/}
tmp="$dir/.$name.sentinelcam-tmp"
[ -d "$dir" ] || mkdir -p "$dir" || fail "cannot create $dir"
# A leftover temp file (or a link there) goes first: it is never written through.
if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp" || fail "cannot remove $tmp"; fi
printf '%s' "$content" | base64 -d > "$tmp" || { rm -f "$tmp"; fail "cannot write $tmp"; }
got=$(sha256sum < "$tmp")
[ "${got%% *}" = "$digest" ] || { rm -f "$tmp"; fail "the bytes written differ from the rendered config"; }
if [ -f "$dest" ]; then chmod --reference="$dest" "$tmp"; else chmod 0644 "$tmp"; fi
mv -f "$tmp" "$dest" || { rm -f "$tmp"; fail "cannot rename into $dest"; }
