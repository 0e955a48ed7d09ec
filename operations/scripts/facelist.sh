# A datasink's face list: facelist_V.csv and facedata_V.hdf5 from the store, verified, placed once
# (never overwritten), and facelist_current.csv switched by rename (operations/models.py: facelist).
# Set before this body: what dir v src port ssh tries; switch=0: place the files only (the pull
# operation fetches them beside the models; the face list operation then only switches).
: "${dir?}" "${v?}" "${src?}" "${port?}" "${ssh?}"
{ mkdir -p "$dir" && cd "$dir"; } || fail "cannot create $dir"
stg=".$v.partial"
if [ ! -e "facelist_$v.csv" ] || [ ! -e "facedata_$v.hdf5" ]; then
    mkdir -p "$stg" || fail "cannot create $stg"
    try rsync -rt --stats --chmod=D0755,Fu+rw,Fa-x,Fgo-w,Fa-s --include=facelist.csv --include=facedata.hdf5 \
        --include=MANIFEST.sha256 --exclude='*' -e "$ssh -p $port" "$src:/face_recognition/$v/" "$stg/" \
        || fail "pull from the datasink failed (rsync exit $?)"
    manifest_ok "$stg" || fail "the store's MANIFEST.sha256 is missing or malformed"
    (cd "$stg" && check_lines . | grep -e '  \./facelist\.csv$' -e '  \./facedata\.hdf5$' \
        | sha256sum -c --quiet --strict -) || fail "verification against MANIFEST.sha256 failed"
    [ -e "facelist_$v.csv" ] || mv -T "$stg/facelist.csv" "facelist_$v.csv" || fail "cannot place facelist_$v.csv"
    [ -e "facedata_$v.hdf5" ] || mv -T "$stg/facedata.hdf5" "facedata_$v.hdf5" || fail "cannot place facedata_$v.hdf5"
fi
rm -rf "$stg"
[ "${switch:-1}" = 1 ] || exit 0
{ ln -sfn "facelist_$v.csv" .facelist_current.tmp && mv -T .facelist_current.tmp facelist_current.csv; } \
    || fail "cannot switch facelist_current.csv"
