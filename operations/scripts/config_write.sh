# Write one config file atomically with exactly the given bytes (operations/configs.py: file).
# The file keeps its mode; a new file gets 0644 (a chmod: a directory's default ACL overrides the
# umask). Set before this body: what dest content digest (content is the file's bytes in base64:
# any encoding travels exactly). Four processes per file (base64, sha256sum, chmod, mv): a
# sentinel writes five at once.
: "${dest?}" "${content?}" "${digest?}"
temp_beside "$dest"
printf '%s' "$content" | base64 -d > "$tmp" || { rm -f "$tmp"; fail "cannot write $tmp"; }
got=$(sha256sum < "$tmp")
[ "${got%% *}" = "$digest" ] || { rm -f "$tmp"; fail "the bytes written differ from the rendered config"; }
put_in_place "$tmp" "$dest"
