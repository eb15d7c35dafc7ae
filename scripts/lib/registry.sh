# Shared by registry-test.sh and platforms-test.sh (sourced): a throwaway verdaccio registry
# on 127.0.0.1 holding the release tarballs, other packages proxied from the usual registry.
#
# registry_start <work dir>: starts it (its pid in $vd_pid: the caller's trap kills it), sets
#   $reg, and points every npm call after it at it, with a fresh cache and no user config;
# registry_publish <version>: publishes release/'s platform tarballs, then the main one;
# path_without_rust: $PATH without the directories that hold cargo or rustc (a user's).

registry_start() {
  local work=$1
  upstream=$(npm config get registry)
  step "verdaccio on 127.0.0.1 (upstream $upstream)"
  npm install --prefix "$work/verdaccio" --no-audit --no-fund --loglevel=error verdaccio@6 >/dev/null
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  cat > "$work/verdaccio.yaml" <<EOF
storage: $work/storage
auth:
  htpasswd:
    file: $work/htpasswd
    max_users: 10
uplinks:
  upstream:
    url: $upstream
packages:
  'pulsing':
    access: \$all
    publish: \$authenticated
  'pulsing-*':
    access: \$all
    publish: \$authenticated
  '**':
    access: \$all
    proxy: upstream
log: { type: stdout, format: pretty, level: warn }
EOF
  "$work/verdaccio/node_modules/.bin/verdaccio" --config "$work/verdaccio.yaml" --listen "127.0.0.1:$port" > "$work/verdaccio.log" 2>&1 &
  vd_pid=$!
  reg="http://127.0.0.1:$port/"
  for _ in $(seq 1 100); do
    curl -sf "${reg}-/ping" >/dev/null && break
    kill -0 "$vd_pid" 2>/dev/null || { cat "$work/verdaccio.log"; echo "verdaccio exited"; exit 1; }
    sleep 0.1
  done
  curl -sf "${reg}-/ping" >/dev/null || { cat "$work/verdaccio.log"; echo "verdaccio did not start"; exit 1; }
  token=$(curl -sf -X PUT -H 'content-type: application/json' -d '{"name":"ci","password":"ci-password"}' \
    "${reg}-/user/org.couchdb.user:ci" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).token))")
  # Every npm call below uses this registry, a fresh cache (the tarballs keep their version
  # between runs) and no user config of the machine.
  export NPM_CONFIG_USERCONFIG="$work/npmrc" NPM_CONFIG_CACHE="$work/cache"
  printf 'registry=%s\n//127.0.0.1:%s/:_authToken=%s\n' "$reg" "$port" "$token" > "$NPM_CONFIG_USERCONFIG"
}

registry_publish() {
  local version=$1 t
  for t in release/pulsing-*-"$version".tgz "release/pulsing-$version.tgz"; do
    npm publish "./$t" --loglevel=error
  done
}

path_without_rust() {
  node -e "const fs=require('fs'),p=require('path');console.log(process.env.PATH.split(':').filter(d=>!['cargo','rustc'].some(b=>fs.existsSync(p.join(d,b)))).join(':'))"
}
