#!/usr/bin/env bash
# Installs what hearth needs to build and test on Debian 12, then makes libllama available.
#
#   scripts/deps.sh            system packages + libllama (pkg-config, cache, or a fresh build)
#   scripts/deps.sh --llama    libllama only
#   scripts/deps.sh --system   system packages only
#   scripts/deps.sh --llama-server   the reference llama-server only
#   scripts/deps.sh --node     npm packages only (src/web, tests/node)
#   scripts/deps.sh --cuda     libllama with ggml's CUDA backend, plus llama-server and
#                              llama-bench from the same build, into deps/llama-cuda
#                              (`make CUDA=1` builds hearth against it)
#   scripts/deps.sh --static   libllama and ggml as static libraries, into deps/llama-static
#                              (`make static` builds a self-contained hearth for bundles)
#
# libllama: when pkg-config knows `llama` (and LLAMA_CPP_SRC is unset) that one is used and
# nothing is built. Otherwise the pinned llama.cpp release is built from the source that the npm
# package node-llama-cpp ships (llama/gitRelease.bundle), after checking the tarball's sha512
# against the pin below. The build is installed into a cache outside the checkout, keyed by
# version and build options, and copied into deps/llama, so a second clone builds nothing.
# LLAMA_CPP_SRC=DIR builds from a llama.cpp tree of the user's choice instead (cached by the
# tree's git commit when it has one).
set -euo pipefail

LLAMA_VERSION="v0.5.0"
NPM_PKG="node-llama-cpp@3.22.1"
NPM_INTEGRITY="sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw=="

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/deps"
CACHE_ROOT="${HEARTH_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/deps}"
JOBS="${JOBS:-$(nproc)}"

SYSTEM_PKGS=(build-essential cmake pkg-config git ca-certificates openssl
    libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev libedit-dev
    libunistring-dev libp11-kit-dev
    nodejs npm python3 python3-jinja2 procps clang clang-format clang-tidy cppcheck chromium)

say() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

install_system() {
    local missing=()
    for p in "${SYSTEM_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    # nodejs/npm may come from outside Debian (nodesource, nvm); a working binary is enough.
    local still=()
    for p in "${missing[@]}"; do
        case "$p" in
        nodejs) command -v node >/dev/null || still+=("$p") ;;
        npm) command -v npm >/dev/null || still+=("$p") ;;
        *) still+=("$p") ;;
        esac
    done
    [ ${#still[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing packages: ${still[*]} (run as root, or: sudo apt-get install ${still[*]})"
    fi
    say "installing ${still[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${still[@]}" >/dev/null
}

# Build options that change the binary are part of the cache key.
# AMX is left out: on machines whose CPU reports AMX but whose kernel or hypervisor does not
# grant the tile state (seen on this project's build machines), ggml's AMX kernels die with
# SIGILL on the first quantized matmul. The AVX-512/AVX2 kernels are used instead.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CMAKE_OPTS=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TOOLS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON
    "-DCMAKE_C_FLAGS=$NO_AMX" "-DCMAKE_CXX_FLAGS=$NO_AMX")
# shellcheck disable=SC2206 # word splitting of the user's extra arguments is intended
[ -n "${HEARTH_LLAMA_CMAKE_ARGS:-}" ] && CMAKE_OPTS+=($HEARTH_LLAMA_CMAKE_ARGS)

# Reads build output and shows its "[ NN%]" (make) or "[N/M]" (ninja) markers: one updating line on a terminal, a line
# per tenth otherwise (CI logs).
progress() {
    local label="$1" line pct last=-1
    while IFS= read -r line; do
        if [[ "$line" =~ ^\[\ *([0-9]+)%\] ]]; then
            pct=${BASH_REMATCH[1]}
        elif [[ "$line" =~ ^\[([0-9]+)/([0-9]+)\] ]] && [ "${BASH_REMATCH[2]}" -gt 0 ]; then
            pct=$((BASH_REMATCH[1] * 100 / BASH_REMATCH[2])) # ninja's [done/total]
        else
            continue
        fi
        if [ -t 2 ]; then
            printf '\rdeps: %s [%-25s] %3d%%' "$label" "$(printf '%*s' $((pct / 4)) '' | tr ' ' '#')" "$pct" >&2
        elif [ $((pct / 10)) -ne $((last / 10)) ]; then
            printf 'deps: %s %d%%\n' "$label" "$pct" >&2
        fi
        last=$pct
    done
    [ -t 2 ] && printf '\n' >&2
    return 0
}

fetch_source() { # $1: directory to clone into
    local dst="$1" work tgz got
    work="$(mktemp -d)"
    say "fetching $NPM_PKG from the npm registry"
    (cd "$work" && npm pack --silent "$NPM_PKG" >/dev/null) || die "npm pack $NPM_PKG failed"
    tgz="$(ls "$work"/*.tgz)"
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    [ "$got" = "$NPM_INTEGRITY" ] || die "integrity mismatch for $NPM_PKG: got $got"
    tar -xzf "$tgz" -C "$work" package/llama/gitRelease.bundle
    rm -rf "$dst"
    git -c advice.detachedHead=false clone -q "$work/package/llama/gitRelease.bundle" "$dst"
    rm -rf "$work"
}

build_llama() { # $1: source tree, $2: install prefix
    local src="$1" prefix="$2" bdir
    bdir="$(mktemp -d)"
    say "building llama.cpp from $src (a few minutes on 2 cores)"
    cmake -S "$src" -B "$bdir" "${CMAKE_OPTS[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_RPATH='$ORIGIN' >"$bdir.log" 2>&1 ||
        { tail -30 "$bdir.log" >&2; die "cmake configure failed (log: $bdir.log)"; }
    set -o pipefail
    cmake --build "$bdir" -j "$JOBS" 2>&1 | tee -a "$bdir.log" | progress "building llama.cpp" ||
        { tail -30 "$bdir.log" >&2; die "llama.cpp build failed (log: $bdir.log)"; }
    cmake --install "$bdir" >>"$bdir.log" 2>&1 || die "install failed (log: $bdir.log)"
    rm -rf "$bdir" "$bdir.log"
}

install_llama() {
    mkdir -p "$DEPS"
    if [ -z "${LLAMA_CPP_SRC:-}" ] && pkg-config --exists llama 2>/dev/null; then
        say "using system libllama $(pkg-config --modversion llama)"
        rm -rf "$DEPS/llama"
        echo system >"$DEPS/llama.source"
        return 0
    fi
    local key src prefix
    if [ -n "${LLAMA_CPP_SRC:-}" ]; then
        [ -f "$LLAMA_CPP_SRC/include/llama.h" ] || die "LLAMA_CPP_SRC=$LLAMA_CPP_SRC is not a llama.cpp tree"
        src="$(cd "$LLAMA_CPP_SRC" && pwd)"
        key="custom-$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo nogit)"
        if [ "$key" = custom-nogit ] || [ -n "$(git -C "$src" status --porcelain 2>/dev/null)" ]; then
            key="custom-$(echo "$src" | sha256sum | cut -c1-12)-dirty"
            rm -rf "${CACHE_ROOT:?}/llama-$key-"*
        fi
    else
        key="$LLAMA_VERSION"
    fi
    key="$key-$(printf '%s\n' "${CMAKE_OPTS[@]}" | sha256sum | cut -c1-8)"
    prefix="$CACHE_ROOT/llama-$key"
    if [ ! -f "$prefix/.complete" ]; then
        mkdir -p "$CACHE_ROOT"
        rm -rf "$prefix"
        if [ -z "${LLAMA_CPP_SRC:-}" ]; then
            src="$CACHE_ROOT/llama.cpp-$LLAMA_VERSION-src"
            [ -f "$src/include/llama.h" ] || fetch_source "$src"
        fi
        # Installed in place (llama.pc records its prefix); .complete, written last, marks a
        # finished build, so an interrupted one is redone.
        build_llama "$src" "$prefix"
        echo "$key" >"$prefix/.complete"
    else
        say "libllama $key from cache $prefix"
    fi
    if [ "$(cat "$DEPS/llama/.complete" 2>/dev/null)" != "$key" ]; then
        rm -rf "$DEPS/llama"
        cp -a "$prefix" "$DEPS/llama"
    fi
    echo bundled >"$DEPS/llama.source"
}

# The tests use the real tokenizers (models/ggml-vocab-*.gguf) and chat templates
# (models/templates) of the llama.cpp tree, whichever libllama is linked, and the schema
# converter's conformance test reads llama.cpp's own converter tests
# (tests/test-json-schema-to-grammar.cpp: schemas and the grammars llama.cpp makes of them).
install_testdata() {
    local src="${LLAMA_CPP_SRC:-$CACHE_ROOT/llama.cpp-$LLAMA_VERSION-src}"
    if [ ! -f "$src/include/llama.h" ]; then
        mkdir -p "$CACHE_ROOT"
        fetch_source "$src"
    fi
    local stamp
    stamp="$(cd "$src" && ls models/ggml-vocab-*.gguf models/templates \
        tests/test-json-schema-to-grammar.cpp | sha256sum | cut -c1-16)"
    [ "$(cat "$DEPS/llama-data/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
    rm -rf "$DEPS/llama-data"
    mkdir -p "$DEPS/llama-data"
    cp -a "$src"/models/ggml-vocab-*.gguf "$src/models/templates" \
        "$src/tests/test-json-schema-to-grammar.cpp" "$DEPS/llama-data/"
    echo "$stamp" >"$DEPS/llama-data/.stamp"
}

# llama-server and llama-bench from the same tree: the reference the llama-server route tests
# compare with field by field, and the benchmark's baselines (server and raw engine speed). Static ggml, the server target only, its UI not
# downloaded; cached like libllama. With a system libllama (pkg-config) the pinned tree is used.
install_llama_server() {
    local src="${LLAMA_CPP_SRC:-$CACHE_ROOT/llama.cpp-$LLAMA_VERSION-src}" key dir bdir
    [ -f "$src/include/llama.h" ] || { mkdir -p "$CACHE_ROOT"; fetch_source "$src"; }
    key="$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo nogit)"
    key="$key-$(printf '%s\n' "${CMAKE_OPTS[@]}" | sha256sum | cut -c1-8)"
    dir="$CACHE_ROOT/llama-tools-$key"
    if [ ! -f "$dir/.complete" ]; then
        bdir="$(mktemp -d)"
        say "building llama-server and llama-bench from $src (the comparison tests' and the"
        say "benchmark's reference; a few minutes)"
        local opts=("${CMAKE_OPTS[@]/-DBUILD_SHARED_LIBS=ON/-DBUILD_SHARED_LIBS=OFF}")
        opts=("${opts[@]/-DLLAMA_BUILD_SERVER=OFF/-DLLAMA_BUILD_SERVER=ON}")
        opts=("${opts[@]/-DLLAMA_BUILD_TOOLS=OFF/-DLLAMA_BUILD_TOOLS=ON}")
        opts=("${opts[@]/-DLLAMA_BUILD_COMMON=OFF/-DLLAMA_BUILD_COMMON=ON}")
        cmake -S "$src" -B "$bdir" "${opts[@]}" -DLLAMA_USE_PREBUILT_UI=OFF >"$bdir.log" 2>&1 ||
            { tail -30 "$bdir.log" >&2; die "llama-server configure failed (log: $bdir.log)"; }
        cmake --build "$bdir" -j "$JOBS" --target llama-server llama-bench 2>&1 |
            tee -a "$bdir.log" | progress "building llama-server" ||
            { tail -30 "$bdir.log" >&2; die "llama-server build failed (log: $bdir.log)"; }
        mkdir -p "$dir"
        cp "$bdir/bin/llama-server" "$bdir/bin/llama-bench" "$dir/"
        echo "$key" >"$dir/.complete"
        rm -rf "$bdir" "$bdir.log"
    fi
    mkdir -p "$DEPS/llama-server"
    for b in llama-server llama-bench; do
        cmp -s "$dir/$b" "$DEPS/llama-server/$b" 2>/dev/null || cp "$dir/$b" "$DEPS/llama-server/$b"
    done
}

# npm packages, each folder pinned by its package-lock.json: the web UI's libraries (src/web,
# embedded into the binary by the build) and the official client libraries and the browser
# driver the tests use (tests/node).
install_node_deps() {
    local dir stamp
    for dir in "$ROOT/src/web" "$ROOT/tests/node"; do
        [ -f "$dir/package-lock.json" ] || continue
        stamp="$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
        [ "$(cat "$dir/node_modules/.hearth-stamp" 2>/dev/null)" = "$stamp" ] && continue
        say "installing npm packages (npm ci in ${dir#"$ROOT"/})"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            die "npm ci in $dir failed"
        echo "$stamp" >"$dir/node_modules/.hearth-stamp"
    done
}

# The CUDA build: the same pinned tree with ggml's CUDA backend, for the architectures of the GPUs
# present (HEARTH_CUDA_ARCHS=90;89 to choose; 90, Hopper, when no GPU is found). The backends
# are modules (GGML_BACKEND_DL) loaded at run time from beside libllama, so the same hearth
# binary runs on a machine without a GPU or without NVIDIA's driver: the CUDA module then finds
# no device, or does not load, and models run on the CPU. llama-server and llama-bench come
# from the same build (the GPU benchmark's baselines, bench/gpu.sh).
install_llama_cuda() {
    local src="${LLAMA_CPP_SRC:-$CACHE_ROOT/llama.cpp-$LLAMA_VERSION-src}" nvcc archs key prefix bdir gen=()
    [ -f "$src/include/llama.h" ] || { mkdir -p "$CACHE_ROOT"; fetch_source "$src"; }
    nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
    [ -x "$nvcc" ] || die "nvcc not found: install the CUDA toolkit (or put nvcc on PATH)"
    archs="${HEARTH_CUDA_ARCHS:-}"
    if [ -z "$archs" ] && command -v nvidia-smi >/dev/null; then
        archs="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null |
            tr -d . | sort -u | paste -sd';' || true)"
    fi
    archs="${archs:-90}"
    local opts=("${CMAKE_OPTS[@]/-DLLAMA_BUILD_SERVER=OFF/-DLLAMA_BUILD_SERVER=ON}")
    opts=("${opts[@]/-DLLAMA_BUILD_TOOLS=OFF/-DLLAMA_BUILD_TOOLS=ON}")
    opts=("${opts[@]/-DLLAMA_BUILD_COMMON=OFF/-DLLAMA_BUILD_COMMON=ON}")
    # GGML_NATIVE cannot be combined with backend modules; -march=native gives the one CPU
    # module this machine's instructions all the same (AMX still left out, see NO_AMX).
    opts=("${opts[@]/-DGGML_NATIVE=ON/-DGGML_NATIVE=OFF}")
    opts=("${opts[@]/-DCMAKE_C_FLAGS=/-DCMAKE_C_FLAGS=-march=native }")
    opts=("${opts[@]/-DCMAKE_CXX_FLAGS=/-DCMAKE_CXX_FLAGS=-march=native }")
    opts+=(-DGGML_CUDA=ON -DGGML_BACKEND_DL=ON "-DCMAKE_CUDA_ARCHITECTURES=$archs"
        "-DCMAKE_CUDA_COMPILER=$nvcc" -DLLAMA_USE_PREBUILT_UI=OFF)
    command -v ninja >/dev/null && gen=(-G Ninja)
    key="$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo nogit)"
    key="$key-cuda-$(printf '%s\n' "${opts[@]}" | sha256sum | cut -c1-8)"
    prefix="$CACHE_ROOT/llama-$key"
    if [ ! -f "$prefix/.complete" ]; then
        bdir="$(mktemp -d)"
        say "building llama.cpp with CUDA (architectures $archs) from $src: many minutes on few"
        say "cores (about 4 with 16)"
        cmake -S "$src" -B "$bdir" "${gen[@]}" "${opts[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" \
            -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON -DCMAKE_INSTALL_RPATH='$ORIGIN' >"$bdir.log" 2>&1 ||
            { tail -30 "$bdir.log" >&2; die "CUDA configure failed (log: $bdir.log)"; }
        set -o pipefail
        cmake --build "$bdir" -j "$JOBS" --target llama ggml llama-server llama-bench 2>&1 |
            tee -a "$bdir.log" | progress "building llama.cpp with CUDA" ||
            { tail -30 "$bdir.log" >&2; die "CUDA build failed (log: $bdir.log)"; }
        rm -rf "$prefix"
        mkdir -p "$prefix/lib" "$prefix/bin" "$prefix/include"
        # One folder holds libllama, ggml, the backend modules and the tools: libllama finds the
        # modules beside itself (hearth asks for that folder), the tools beside their executable,
        # and every RUNPATH is $ORIGIN. bin/ links to the tools.
        cp -a "$bdir"/bin/*.so* "$bdir/bin/llama-server" "$bdir/bin/llama-bench" "$prefix/lib/"
        ln -s ../lib/llama-server ../lib/llama-bench "$prefix/bin/"
        cp "$src"/include/llama.h "$src"/ggml/include/*.h "$prefix/include/"
        echo "$key" >"$prefix/.complete"
        rm -rf "$bdir" "$bdir.log"
    else
        say "libllama $key (CUDA) from cache $prefix"
    fi
    if [ "$(cat "$DEPS/llama-cuda/.complete" 2>/dev/null)" != "$key" ]; then
        mkdir -p "$DEPS"
        rm -rf "$DEPS/llama-cuda"
        cp -a "$prefix" "$DEPS/llama-cuda"
    fi
}

# The static build, for `make static` (bundles: one executable that runs on another machine of
# the same kind with nothing installed). BUILD_SHARED_LIBS=OFF gives libllama.a and ggml's
# archives; ggml's own thread pool replaces OpenMP (a static libgomp is not what a bundle wants);
# and the CPU code is built for a known instruction set rather than this machine's
# (-march=native could die with SIGILL on the machine the bundle is copied to): x86-64-v3
# (AVX2, FMA, F16C, BMI2: Intel since 2013, AMD since 2015) on x86-64, the compiler's default
# elsewhere. HEARTH_STATIC_CPU=native builds for this machine instead. Cached like the shared build.
install_llama_static() {
    local src="${LLAMA_CPP_SRC:-$CACHE_ROOT/llama.cpp-$LLAMA_VERSION-src}" key prefix
    [ -f "$src/include/llama.h" ] || { mkdir -p "$CACHE_ROOT"; fetch_source "$src"; }
    local opts=("${CMAKE_OPTS[@]/-DBUILD_SHARED_LIBS=ON/-DBUILD_SHARED_LIBS=OFF}")
    opts+=(-DGGML_OPENMP=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON)
    if [ "${HEARTH_STATIC_CPU:-}" != native ]; then
        opts=("${opts[@]/-DGGML_NATIVE=ON/-DGGML_NATIVE=OFF}")
        [ "$(uname -m)" = x86_64 ] &&
            opts+=(-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
    fi
    key="$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo nogit)"
    key="$key-static-$(printf '%s\n' "${opts[@]}" | sha256sum | cut -c1-8)"
    prefix="$CACHE_ROOT/llama-$key"
    if [ ! -f "$prefix/.complete" ]; then
        local bdir
        bdir="$(mktemp -d)"
        say "building static libllama from $src (a few minutes on 2 cores)"
        cmake -S "$src" -B "$bdir" "${opts[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" \
            -DCMAKE_INSTALL_LIBDIR=lib >"$bdir.log" 2>&1 ||
            { tail -30 "$bdir.log" >&2; die "static configure failed (log: $bdir.log)"; }
        set -o pipefail
        cmake --build "$bdir" -j "$JOBS" --target llama ggml 2>&1 | tee -a "$bdir.log" |
            progress "building static libllama" ||
            { tail -30 "$bdir.log" >&2; die "static llama.cpp build failed (log: $bdir.log)"; }
        rm -rf "$prefix"
        cmake --install "$bdir" >>"$bdir.log" 2>&1 || die "install failed (log: $bdir.log)"
        echo "$key" >"$prefix/.complete"
        rm -rf "$bdir" "$bdir.log"
    else
        say "static libllama $key from cache $prefix"
    fi
    if [ "$(cat "$DEPS/llama-static/.complete" 2>/dev/null)" != "$key" ]; then
        mkdir -p "$DEPS"
        rm -rf "$DEPS/llama-static"
        cp -a "$prefix" "$DEPS/llama-static"
    fi
}

case "${1:-all}" in
all) install_system; install_llama; install_testdata; install_node_deps; install_llama_server ;;
--llama-server) install_llama_server ;;
--system) install_system ;;
--node) install_node_deps ;;
--llama) install_llama; install_testdata ;;
--cuda) install_llama_cuda ;;
--static) install_llama_static ;;
*) die "usage: scripts/deps.sh [--system|--llama|--llama-server|--node|--cuda|--static]" ;;
esac
