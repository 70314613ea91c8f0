#!/usr/bin/env bash
# hearth doctor, completion scripts, and --help answered without a server.
. "$(dirname "$0")/lib.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A registry that answers (a plain HTTP server) and one that does not (a closed port).
UP=$(free_port)
DOWN=$(free_port)
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$T" >/dev/null 2>&1 &
PY=$!
trap 'kill $PY 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 1 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $UP), 1)" 2>/dev/null && break
    sleep 0.1
done

# A Hugging Face cache that is a file, not a folder; an Ollama store with one model file in it.
touch "$T/not-a-dir"
mkdir -p "$T/ollama/blobs"
head -c 3000 /dev/zero >"$T/ollama/blobs/sha256-0000"
HF_HUB_CACHE="$T/not-a-dir" HF_ENDPOINT="http://127.0.0.1:$UP" \
    HEARTH_OLLAMA_REGISTRY="http://127.0.0.1:$DOWN" HEARTH_HOST="127.0.0.1:$DOWN" run_hearth doctor
expect_eq "doctor exits 1 with problems" "$RC" 1
expect_contains "versions" "$OUT" "libllama"
expect_contains "CPU line" "$OUT" "cores online"
expect_contains "memory line" "$OUT" "GiB available"
expect_contains "GPU section" "$OUT" "GPUs"
expect_contains "a store that is a file" "$OUT" "PROBLEM  Hugging Face cache: $T/not-a-dir is not a folder"
expect_contains "its fix" "$OUT" "fix: point the variable at a folder"
expect_contains "the Ollama store's size" "$OUT" "Ollama store: $T/ollama, 3.0 KB in 1 files"
expect_contains "no server" "$OUT" "no server at http://127.0.0.1:$DOWN"
expect_contains "a registry that answers" "$OUT" "ok       Hugging Face answers (http://127.0.0.1:$UP/api/models?limit=1: HTTP"
expect_contains "a registry that does not" "$OUT" "PROBLEM  Ollama's registry does not answer (http://127.0.0.1:$DOWN/v2/)"
expect_contains "the count" "$OUT" "2 problems found"

# Everything fine: exit 0.
HF_ENDPOINT="http://127.0.0.1:$UP" HEARTH_OLLAMA_REGISTRY="http://127.0.0.1:$UP" \
    HEARTH_HOST="127.0.0.1:$DOWN" run_hearth doctor
expect_eq "doctor exits 0 without problems" "$RC" 0
expect_contains "no problems" "$OUT" "0 problems found"

run_hearth doctor extra
expect_clean_failure "doctor takes no arguments" "doctor takes no arguments"

# --help of every command is answered here, with no server (HEARTH_HOST points nowhere).
for c in serve run list ls ps show pull rm cp create stop doctor completion version; do
    HEARTH_HOST="127.0.0.1:$DOWN" run_hearth "$c" --help
    expect_eq "$c --help exits 0" "$RC" 0
    expect_contains "$c --help shows its usage" "$OUT" "Usage: hearth $c"
done
run_hearth --help
for c in serve run list ps show pull rm cp create stop doctor completion version; do
    expect_contains "hearth --help lists $c" "$OUT" "  $c "
done

# Completion scripts: valid shell, and they complete commands, flags and run's parameters.
run_hearth completion bash
expect_eq "completion bash" "$RC" 0
printf '%s\n' "$OUT" >"$T/c.bash"
bash -n "$T/c.bash" && ok || bad "the bash script does not parse"
got=$(bash -c ". '$T/c.bash'; COMP_WORDS=(hearth do); COMP_CWORD=1; _hearth; echo \"\${COMPREPLY[*]}\"")
expect_eq "bash completes a command" "$got" "doctor"
got=$(bash -c ". '$T/c.bash'; COMP_WORDS=(hearth run m --num-pr); COMP_CWORD=3; _hearth; echo \"\${COMPREPLY[*]}\"")
expect_eq "bash completes run's parameters" "$got" "--num-predict"
got=$(bash -c ". '$T/c.bash'; COMP_WORDS=(hearth ps --j); COMP_CWORD=2; _hearth; echo \"\${COMPREPLY[*]}\"")
expect_eq "bash completes a command's flags" "$got" "--json"
# Every flag a command's --help names is offered by completion for that command.
for c in serve run list ps show pull rm cp create stop doctor; do
    flags="$(bash -c ". '$T/c.bash'; COMP_WORDS=(hearth $c -); COMP_CWORD=2; _hearth; echo \" \${COMPREPLY[*]} \"")"
    for f in $("$HEARTH" "$c" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*[a-z0-9]' | grep -vx -- '--no' | sort -u); do
        expect_contains "completion of $c offers $f" "$flags" " $f "
    done
done
run_hearth completion zsh
expect_eq "completion zsh" "$RC" 0
expect_contains "zsh script" "$OUT" "#compdef hearth"
if command -v zsh >/dev/null; then
    printf '%s\n' "$OUT" >"$T/c.zsh"
    zsh -n "$T/c.zsh" && ok || bad "the zsh script does not parse"
fi
run_hearth completion fish
expect_clean_failure "an unknown shell" "usage: hearth completion bash|zsh"

finish
