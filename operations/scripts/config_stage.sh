# Stage one config file (operations/configs.py): its exact bytes in a temp file beside it, for
# config_commit.sh to check and rename into place with the others of the same command. No process
# for printable UTF-8 text: its bytes travel as they are (text), any other bytes in base64
# (content). A failure removes what this command staged (lib.sh: fail).
# Set before this body: what dest digest text content (one of the last two empty).
: "${dest?}" "${digest?}" "${text?}" "${content?}"
temp_beside "$dest"
if [ -n "$content" ]; then
    printf '%s' "$content" | base64 -d > "$tmp" || { rm -f "$tmp"; fail "cannot write $tmp"; }
else
    printf '%s' "$text" > "$tmp" || { rm -f "$tmp"; fail "cannot write $tmp"; }
fi
# Temp names beside validated config paths (no whitespace): one per line.
staged="$staged$tmp
"
wanted="$wanted$digest  $tmp
"
