# Sourced by the download scripts (datasets/download_pix2pix_dataset.sh, scripts/download_pix2pix_model.sh).
# fetch_url URL FILE: download URL into FILE with curl, else wget (a progress bar when stderr is a terminal);
# returns the downloader's exit code, 127 when neither is installed.
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
