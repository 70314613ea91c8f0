# The settings table of `hearth serve` (src/cli/serve_settings.c) and what is made of it:
# serve --help (a golden file), the README block, shell completion, and `hearth config`.
. "$(dirname "$0")/lib.sh"
: "${SRC:?}"
# A clean environment: only what lib.sh sets for the stores, and a home of our own.
mkdir -p "$T/home"
clean() { env -i PATH="$PATH" HOME="$T/home" HF_HUB_CACHE="$T/hf-hub" OLLAMA_MODELS="$T/ollama" \
    XDG_CONFIG_HOME="$T/config" "$@"; }
# cfg ENV... -- ARGS...: runs `hearth config` in the clean environment plus ENV; sets OUT ERR RC.
cfg() {
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    clean "${envs[@]}" timeout -s KILL 20 "$HEARTH" config "$@" >"$T/out" 2>"$T/err" </dev/null
    RC=$?
    OUT="$(cat "$T/out")"
    ERR="$(cat "$T/err")"
}
# field JSON NAME KEY: a setting's field from `hearth config --json` output (lists joined by ':').
field() {
    python3 -c 'import json, sys
d = {s["name"]: s for s in json.loads(sys.argv[1])}
v = d[sys.argv[2]][sys.argv[3]]
print(":".join(v) if isinstance(v, list) else ("" if v is None else v))' "$1" "$2" "$3"
}

# --help is exactly the committed golden file.
"$HEARTH" serve --help >"$T/help.txt"
if diff -u "$SRC/tests/cli/golden/serve-help.txt" "$T/help.txt" >"$T/diff"; then ok; else
    bad "hearth serve --help differs from tests/cli/golden/serve-help.txt; if the change is meant," \
        "regenerate it with: build/hearth serve --help > tests/cli/golden/serve-help.txt &&" \
        "scripts/gen-readme.sh (README block). Diff: $(head -30 "$T/diff")"
fi

# Every entry of the table (dumped by config --json) in --help, the README and completion.
cfg -- --json
expect_eq "config --json exit" "$RC" 0
printf '%s' "$OUT" >"$T/table.json"
"$HEARTH" completion bash >"$T/comp.bash"
"$HEARTH" completion zsh >"$T/comp.zsh"
python3 - "$T/table.json" "$T/help.txt" "$SRC/README.md" "$T/comp.bash" "$T/comp.zsh" <<'PY' >"$T/missing"
import json, re, sys
table = json.load(open(sys.argv[1]))
flat = lambda s: re.sub(r"\s+", " ", s)
help_, readme = flat(open(sys.argv[2]).read()), flat(open(sys.argv[3]).read())
def serve_case(path, start):
    text = open(path).read()
    return text[text.index(start):].split("\n")[1]
bash, zsh = serve_case(sys.argv[4], "    serve)"), serve_case(sys.argv[5], "    serve)")
config_bash = serve_case(sys.argv[4], "    config)")
assert len(table) >= 30, len(table)
for s in table:
    need = [s["flag"]] if s["flag"] else []
    need += s["env"]
    if s["default"]:
        need.append("default " + s["default"])
    for n in need:
        for where, text in (("--help", help_), ("README", readme)):
            if n not in text:
                print(f"{s['name']}: {n!r} not in {where}")
    if s["flag"]:
        for where, text in (("bash", bash), ("zsh", zsh), ("bash config", config_bash)):
            if f" {s['flag']} " not in f" {text.replace(chr(34), ' ')} ":
                print(f"{s['name']}: {s['flag']} not in the {where} completion")
# and nothing in --help's flag list that the table lacks
flags = {s["flag"] for s in table if s["flag"]} | {"--help"}
for f in re.findall(r"^  (?:-\w+, )?(--[a-z-]+)", open(sys.argv[2]).read(), re.M):
    if f not in flags:
        print(f"--help lists {f}, which the table lacks")
PY
expect_eq "every setting in --help, README and completion" "$(cat "$T/missing")" ""

# Each flag goes through the table: a value-taking one without its value is refused, a switch
# is taken and reported as set by it.
python3 -c 'import json, sys
for s in json.load(open(sys.argv[1])):
    if s["flag"]:
        print(s["flag"], "switch" if s["value"] in ("on", "off") else "value")' "$T/table.json" >"$T/flags"
while read -r flag kind; do
    cfg -- --json "$flag"
    if [ "$kind" = switch ]; then
        expect_eq "$flag is a switch" "$RC" 0
        name="${flag#--}"
        expect_eq "$flag reported" "$(field "$OUT" "$name" source) $(field "$OUT" "$name" value)" "flag $flag on"
    else
        expect_eq "$flag without a value: exit 2" "$RC" 2
        expect_eq "$flag without a value: message" "$ERR" "hearth: error: $flag needs a value"
    fi
done <"$T/flags"

# Defaults in a clean environment.
cfg -- --json
expect_eq "default parallel" "$(field "$OUT" parallel value) $(field "$OUT" parallel source)" "4 default"
expect_eq "default host" "$(field "$OUT" host value)" "127.0.0.1:11434"
expect_eq "default keep-alive" "$(field "$OUT" keep-alive value)" "5m"
expect_eq "default presets file, as serve computes it" "$(field "$OUT" models-preset value)" "$T/config/hearth/presets.ini"
expect_eq "default prompt cache" "$(field "$OUT" prompt-cache-dir value)" "$T/home/.cache/hearth/prompts"
expect_eq "the stores" "$(field "$OUT" ollama-models value) $(field "$OUT" hf-hub-cache value)" "$T/ollama $T/hf-hub"
expect_eq "no key" "$(field "$OUT" api-key value)" ""
cfg -- 
expect_eq "config exit" "$RC" 0
expect_eq "aligned columns" "$(printf '%s\n' "$OUT" | grep -c '^parallel  *4  *default$')" 1
expect_eq "header" "$(printf '%s\n' "$OUT" | head -1 | tr -s ' ')" "SETTING VALUE SOURCE"
# where the value and the source start on a row
col() { printf '%s\n' "$OUT" | grep "^$1 " | awk '{print index($0, $2), index($0, $3)}'; }
expect_eq "columns line up" "$(col host)" "$(col parallel)"
expect_eq "columns line up" "$(col host)" "$(col models-preset)"

# Precedence: a variable over the default, HEARTH_ over OLLAMA_, a flag over both.
cfg OLLAMA_NUM_PARALLEL=3 -- --json
expect_eq "OLLAMA_ fallback" "$(field "$OUT" parallel value) $(field "$OUT" parallel source)" "3 env OLLAMA_NUM_PARALLEL"
cfg OLLAMA_NUM_PARALLEL=3 HEARTH_NUM_PARALLEL=5 -- --json
expect_eq "HEARTH_ wins over OLLAMA_" "$(field "$OUT" parallel value) $(field "$OUT" parallel source)" "5 env HEARTH_NUM_PARALLEL"
cfg HEARTH_NUM_PARALLEL=5 -- --json --parallel 2
expect_eq "flag wins" "$(field "$OUT" parallel value) $(field "$OUT" parallel source)" "2 flag --parallel"
cfg HEARTH_NUM_PARALLEL=5 -- -np 7
expect_eq "short flag, text" "$(printf '%s\n' "$OUT" | grep '^parallel ' | tr -s ' ')" "parallel 7 flag -np"
cfg HEARTH_MODELS_DIR=/m1:/m2 HEARTH_LOAD_TIMEOUT=90s OLLAMA_KEEP_ALIVE=-1 -- --json
expect_eq "models dirs from the variable" "$(field "$OUT" models-dir value)" "/m1:/m2"
expect_eq "env-only setting" "$(field "$OUT" load-timeout value) $(field "$OUT" load-timeout source)" "90s env HEARTH_LOAD_TIMEOUT"
expect_eq "OLLAMA_KEEP_ALIVE" "$(field "$OUT" keep-alive source)" "env OLLAMA_KEEP_ALIVE"
cfg HEARTH_MODELS_DIR=/m1:/m2 -- --json --models-dir /a --models-dir /b
expect_eq "repeated flags replace the variable" "$(field "$OUT" models-dir value)" "/a:/b"
cfg HEARTH_ORIGINS=https://a.org OLLAMA_ORIGINS=https://b.org -- --json
expect_eq "both origins add" "$(field "$OUT" origins value) $(field "$OUT" origins source)" "https://a.org,https://b.org env HEARTH_ORIGINS+OLLAMA_ORIGINS"
cfg HEARTH_HOST= OLLAMA_HOST=0.0.0.0:8080 -- --json
expect_eq "an empty variable is unset" "$(field "$OUT" host value) $(field "$OUT" host source)" "0.0.0.0:8080 env OLLAMA_HOST"

# Secrets: whether set, never the value, in both forms.
cfg HEARTH_API_KEY=sk-topsecret-1 HF_TOKEN=hf_topsecret_2 --
expect_not_contains "key hidden" "$OUT" "topsecret"
expect_eq "key shown as set" "$(printf '%s\n' "$OUT" | grep '^api-key ' | tr -s ' ')" "api-key (set, hidden) env HEARTH_API_KEY"
cfg HF_TOKEN=hf_topsecret_2 -- --json --api-key sk-topsecret-3
expect_not_contains "key hidden in JSON" "$OUT" "topsecret"
expect_eq "flag key source" "$(field "$OUT" api-key source)" "flag --api-key"

# Bad values: serve's message, one line, exit status 2; the same from serve itself.
for c in "HEARTH_NUM_PARALLEL=many -- |invalid parallel 'many' in HEARTH_NUM_PARALLEL (expected a number of slots from 1 to 256)" \
    "X=1 -- --max-memory lots|invalid max-memory 'lots' (expected a size like 6GiB or 800MB)" \
    "HEARTH_TIMEOUT=0 -- |invalid timeout '0' in HEARTH_TIMEOUT (expected seconds from 1 to 86400)" \
    "X=1 -- --header-timeout 3601|invalid header-timeout '3601' (expected seconds from 1 to 3600)" \
    "HEARTH_WRITE_TIMEOUT=soon -- |invalid write-timeout 'soon' in HEARTH_WRITE_TIMEOUT (expected seconds from 1 to 86400)" \
    "HEARTH_STALL_TIMEOUT=soon -- |invalid HEARTH_STALL_TIMEOUT 'soon' (expected a duration like 5m or 30s, or seconds)" \
    "X=1 -- --host nonsense:99999|invalid host 'nonsense:99999' (expected HOST[:PORT])" \
    "X=1 -- --bogus|unknown flag '--bogus' (see hearth serve --help)"; do
    setup="${c%%|*}" msg="${c#*|}"
    read -r -a words <<<"$setup"
    cfg "${words[@]}"
    expect_eq "config: $msg: exit" "$RC" 2
    expect_eq "config: $msg" "$ERR" "hearth: error: $msg"
    expect_eq "config: nothing printed" "$OUT" ""
    envs=() args=() seen=0
    for w in "${words[@]}"; do
        if [ "$w" = -- ]; then seen=1; elif [ $seen = 0 ]; then envs+=("$w"); else args+=("$w"); fi
    done
    clean "${envs[@]}" timeout -s KILL 20 "$HEARTH" serve --host 127.0.0.1:0 "${args[@]}" >/dev/null 2>"$T/err" </dev/null
    rc=$?
    expect_eq "serve: $msg: exit" "$rc" 2
    expect_eq "serve: $msg" "$(cat "$T/err")" "hearth: error: $msg"
done
# A variable read where it is used is not refused: config notes it and shows the default used.
cfg HEARTH_PULL_RETRIES=lots -- --json
expect_eq "lenient: exit" "$RC" 0
expect_eq "lenient: the default used" "$(field "$OUT" pull-retries value) $(field "$OUT" pull-retries source)" "5 default"
expect_contains "lenient: noted" "$(field "$OUT" pull-retries note)" "HEARTH_PULL_RETRIES='lots' is not a number from 1 to 100"

cfg -- --help
expect_eq "config --help" "$(printf '%s\n' "$OUT" | head -1)" "Usage: hearth config [--json] [serve's flags]"
finish
