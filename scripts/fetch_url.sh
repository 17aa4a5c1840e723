# Sourced by the download scripts (datasets/download_pix2pix_dataset.sh, scripts/download_pix2pix_model.sh).
# fetch_url URL FILE: download URL into FILE with curl, else wget (a progress bar when stderr is a terminal);
# returns the downloader's exit code, 127 when neither is installed.
# download URL FILE BY_HAND OFFLINE: fetch_url, saying so; when it fails, the caller's `die` with the advice BY_HAND
# (no curl or wget) or OFFLINE (the download failed).
fetch_url() {
    local url="$1" file="$2" progress
    if command -v curl >/dev/null 2>&1; then
        progress=(-s)
        [[ -t 2 ]] && progress=(--progress-bar)
        curl -fL --connect-timeout 20 "${progress[@]}" -o "$file" "$url"
    elif command -v wget >/dev/null 2>&1; then
        progress=(-q)
        [[ -t 2 ]] && progress=(-q --show-progress)
        wget --connect-timeout=20 --tries=2 "${progress[@]}" -O "$file" "$url"
    else
        return 127
    fi
}

download() {
    local url="$1" file="$2" status=0
    echo "downloading $url"
    fetch_url "$url" "$file" || status=$?
    if [[ "$status" -eq 127 ]]; then
        die "neither curl nor wget is installed; $3"
    elif [[ "$status" -ne 0 ]]; then
        die "could not download $url (exit code $status): no network? $4"
    fi
}
