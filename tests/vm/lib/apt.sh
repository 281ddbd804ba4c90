# Private apt configuration for the VM tests (sourced). Needs CACHE set.
# The system's sources are never touched: apt reads sources, lists and its package cache from $CACHE/apt,
# and knows about amd64 and arm64 (arm64 userland for the arm64 guest) whatever dpkg's architectures are.
APT_DIR=$CACHE/apt
apt_private_setup() {
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/parts" "$APT_DIR/prefs"
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f $key ] || { echo "apt.sh: $key missing (apt-get install debian-archive-keyring)" >&2; return 1; }
  # Files are rewritten only when they change: a newer mtime makes apt rebuild its package cache (seconds).
  cat > "$APT_DIR/sources.list.new" <<SRC
deb [signed-by=$key] http://deb.debian.org/debian bookworm main
deb [signed-by=$key] http://deb.debian.org/debian bookworm-updates main
deb [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$key] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=$key] http://deb.debian.org/debian trixie main
deb [signed-by=$key] http://deb.debian.org/debian-security trixie-security main
SRC
  [ -f "$APT_DIR/status" ] || : > "$APT_DIR/status"
  [ -f "$APT_DIR/preferences" ] || : > "$APT_DIR/preferences"
  cat > "$APT_DIR/apt.conf.new" <<CONF
Dir::Etc::SourceList "$APT_DIR/sources.list";
Dir::Etc::SourceParts "$APT_DIR/parts";
Dir::Etc::Parts "$APT_DIR/parts";
Dir::Etc::Main "$APT_DIR/none.conf";
Dir::Etc::Preferences "$APT_DIR/preferences";
Dir::Etc::PreferencesParts "$APT_DIR/prefs";
Dir::State::Lists "$APT_DIR/lists";
Dir::State::status "$APT_DIR/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "srcpkgcache.bin";
APT::Architecture "amd64";
APT::Architectures { "amd64"; "arm64"; };
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::Retries "3";
APT::Sandbox::User "root";
CONF
  local f
  for f in sources.list apt.conf; do
    if cmp -s "$APT_DIR/$f.new" "$APT_DIR/$f"; then rm "$APT_DIR/$f.new"; else mv "$APT_DIR/$f.new" "$APT_DIR/$f"; fi
  done
}
apt_private() { # apt_private get|cache ARGS...
  local tool=$1; shift
  APT_CONFIG="$APT_DIR/apt.conf" "apt-$tool" ${APT_RELEASE:+-o APT::Default-Release=$APT_RELEASE} "$@"
}
# apt-get update at most once per VM_APT_MAX_AGE seconds (default 6 h): the lists are the slow part.
# One caller at a time: the amd64 and arm64 VM runs start side by side (tests/run.sh's last stage), and two setups
# racing on the same sources.list.new made one of them fail.
apt_private_update() {
  mkdir -p "$APT_DIR"
  (
    flock 9
    apt_private_setup
    local stamp=$APT_DIR/updated age=${VM_APT_MAX_AGE:-21600}
    if [ -f "$stamp" ] && [ $(( $(date +%s) - $(stat -c %Y "$stamp") )) -lt "$age" ]; then exit 0; fi
    local t0; t0=$(date +%s)
    apt_private get update -qq >&2 || { echo "apt.sh: apt-get update (private lists) failed" >&2; exit 1; }
    touch "$stamp"
    echo "apt.sh: private apt-get update took $(( $(date +%s) - t0 ))s" >&2
  ) 9> "$APT_DIR/lock"
}
# Downloads one package (name[:arch]) into $CACHE/debs (kept between runs), prints the .deb path.
# APT_RELEASE (e.g. bookworm) makes apt prefer that release's versions.
apt_private_download() {
  local spec=$1 name arch ver fver file
  name=${spec%%:*}; arch=${spec#*:}; [ "$arch" != "$spec" ] || arch=amd64
  ver=$(apt_private cache show --no-all-versions "$name:$arch" | awk '/^Version:/ {print $2; exit}')
  [ -n "$ver" ] || { echo "apt.sh: no package $name:$arch" >&2; return 1; }
  fver=${ver//:/%3a}   # apt-get download encodes the epoch colon
  file=$(ls "$CACHE/debs/${name}_${fver}_${arch}.deb" "$CACHE/debs/${name}_${fver}_all.deb" 2>/dev/null | head -1 || true)
  if [ -z "$file" ]; then
    (cd "$CACHE/debs" && apt_private get download -qq "$name:$arch=$ver" >&2) || { echo "apt.sh: download of $name:$arch failed" >&2; return 1; }
    file=$(ls "$CACHE/debs/${name}_${fver}_${arch}.deb" "$CACHE/debs/${name}_${fver}_all.deb" 2>/dev/null | head -1 || true)
    [ -n "$file" ] || { echo "apt.sh: downloaded $name $ver but cannot find the .deb" >&2; return 1; }
  fi
  echo "$file"
}
