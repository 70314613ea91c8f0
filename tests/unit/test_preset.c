/* Presets files: every key form, quotes and escapes, comments, errors with their line, caps,
 * and writing one section while keeping the rest of the file byte for byte. */
#include "base/util.h"
#include "check.h"
#include "store/preset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct preset_set *parse(const char *text)
{
    struct preset_set *p = NULL;
    struct err e = {0};
    if (preset_parse("t.ini", text, strlen(text), &p, &e))
        fprintf(stderr, "unexpected error: %s\n", e.msg);
    return p;
}

/* The error message text gives, or "" when it parses. */
static const char *parse_err(const char *text)
{
    static struct err e;
    memset(&e, 0, sizeof e);
    struct preset_set *p = NULL;
    if (preset_parse("t.ini", text, strlen(text), &p, &e) == 0) {
        preset_release(p);
        return "";
    }
    return e.msg;
}

#define CHECK_ERR(text, want)                                                                      \
    do {                                                                                           \
        const char *m_ = parse_err(text);                                                          \
        check_count++;                                                                             \
        if (!strstr(m_, want)) {                                                                   \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: expected an error with \"%s\", got \"%s\"\n", __FILE__,        \
                    __LINE__, want, m_);                                                           \
        }                                                                                          \
    } while (0)

static void test_keys(void)
{
    CHECK_ERR("version = 1\n"
              "; a comment\n"
              "# another\n"
              "[*]\n"
              "c = 8192\n"
              "ngl = 10\n"
              "[qwen]\n"
              "ctx-size = 4096   ; trailing comment\n"
              "temp = 0.6\n"
              "top-k = 20\n"
              "LLAMA_ARG_TOP_P = 0.8\n"
              "min_p = 0.01\n"
              "repeat_penalty = 1.1\n"
              "fa = on\n"
              "no-mmap = true\n"
              "mlock = 1\n"
              "ctk = q8_0\n"
              "np = 2\n"
              "s = 42\n"
              "dry-multiplier = 0.8\n"
              "top-nsigma = 1.5\n"
              "dynatemp-exp = 1.2\n"
              "mirostat-lr = 0.2\n"
              "keep = 8\n"
              "stop = \"<|im_end|>\"\n"
              "stop = END\n"
              "[hf.co/org/repo:Q4_K_M]\n"
              "LLAMA_ARG_CTX_SIZE = 1024\n"
              "num_ctx_not = 1\n",
              "t.ini:29: unknown key 'num_ctx_not'");
    struct preset_set *p =
        parse("[*]\nc = 8192\nngl = 10\n[qwen]\nctx-size = 4096 ; trailing\ntemp = 0.6\n"
              "top-k = 20\nLLAMA_ARG_TOP_P = 0.8\nmin_p = 0.01\nfa = on\nno-mmap = true\n"
              "mlock = 1\nctk = q8_0\nnp = 2\ns = 42\ntop-nsigma = 1.5\ndynatemp-exp = 1.2\n"
              "mirostat-lr = 0.2\nkeep = 8\nstop = \"<|im_end|>\"\nstop = END\n"
              "jinja = true\nload-on-startup = true\nstop-timeout = 5\n"
              "[hf.co/org/repo:Q4_K_M]\nLLAMA_ARG_CTX_SIZE = 1024\nload-mode = mmap+mlock\n");
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(preset_get(p, "*", "num_ctx"), "8192");
    CHECK_STR(preset_get(p, "*", "n-gpu-layers"), "10");
    /* [qwen] is the section of qwen:latest, whichever way either is written. */
    CHECK_STR(preset_get(p, "qwen:latest", "c"), "4096");
    CHECK_STR(preset_get(p, "qwen", "num_ctx"), "4096");
    CHECK_STR(preset_get(p, "qwen", "temperature"), "0.6");
    CHECK_STR(preset_get(p, "qwen", "top_k"), "20");
    CHECK_STR(preset_get(p, "qwen", "top_p"), "0.8");
    CHECK_STR(preset_get(p, "qwen", "min-p"), "0.01");
    CHECK_STR(preset_get(p, "qwen", "flash_attn"), "1");
    CHECK_STR(preset_get(p, "qwen", "use_mmap"), "false"); /* the negation */
    CHECK_STR(preset_get(p, "qwen", "use_mlock"), "true");
    CHECK_STR(preset_get(p, "qwen", "cache_type_k"), "q8_0");
    CHECK_STR(preset_get(p, "qwen", "num_parallel"), "2");
    CHECK_STR(preset_get(p, "qwen", "seed"), "42");
    CHECK_STR(preset_get(p, "qwen", "top_n_sigma"), "1.5");
    CHECK_STR(preset_get(p, "qwen", "dynatemp_exponent"), "1.2");
    CHECK_STR(preset_get(p, "qwen", "mirostat_eta"), "0.2");
    CHECK_STR(preset_get(p, "qwen", "num_keep"), "8");
    CHECK_STR(preset_get(p, "qwen", "load-on-startup"), "true");
    CHECK_STR(preset_get(p, "qwen", "stop-timeout"), "5");
    CHECK(preset_get(p, "qwen", "jinja") == NULL);
    CHECK(preset_get(p, "nope", "c") == NULL);
    int n;
    const struct preset_kv *kv = preset_entries(p, "qwen", &n);
    int stops = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(kv[i].key, "stop")) {
            CHECK_STR(kv[i].value, stops == 0 ? "<|im_end|>" : "END");
            CHECK(kv[i].line == (stops == 0 ? 20 : 21));
            stops++;
        }
    CHECK(stops == 2);
    CHECK_STR(preset_get(p, "hf.co/org/repo:Q4_K_M", "ctx-size"), "1024");
    CHECK_STR(preset_get(p, "hf.co/org/repo:Q4_K_M", "use_mmap"), "true");
    CHECK_STR(preset_get(p, "hf.co/org/repo:Q4_K_M", "use_mlock"), "true");
    const char *const *names = preset_sections(p, &n);
    CHECK(n == 2);
    CHECK_STR(names[0], "qwen:latest");
    CHECK_STR(names[1], "hf.co/org/repo:Q4_K_M");
    preset_release(p);
}

static void test_model_keys(void)
{
    struct preset_set *p =
        parse("[assistant]\nmodel = qwen2.5:7b\nsystem = \"You are terse.\\nVery terse.\"\n"
              "messages = [{\"role\":\"user\",\"content\":\"hi\"}]\nlicense = MIT\n"
              "mmproj = /m/mmproj.gguf\nchat-template-file = /t.jinja\nlora = /a.gguf\n"
              "chat-template = \"{% for m in messages %}{{ m.content }}{% endfor %}\"\n"
              "ollama-template = \"{{ .Prompt }}\"\n"
              "grammar = \"root ::= \\\"a\\\"\"\n");
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(preset_get(p, "assistant", "model"), "qwen2.5:7b");
    CHECK_STR(preset_get(p, "assistant", "system"), "You are terse.\nVery terse.");
    CHECK_STR(preset_get(p, "assistant", "license"), "MIT");
    CHECK_STR(preset_get(p, "assistant", "adapter"), "/a.gguf");
    CHECK_STR(preset_get(p, "assistant", "mmproj"), "/m/mmproj.gguf");
    CHECK_STR(preset_get(p, "assistant", "chat-template"),
              "{% for m in messages %}{{ m.content }}{% endfor %}");
    CHECK_STR(preset_get(p, "assistant", "ollama-template"), "{{ .Prompt }}");
    CHECK_STR(preset_get(p, "assistant", "grammar"), "root ::= \"a\"");
    preset_release(p);
    p = parse("[from-hf]\nhf-repo = ggml-org/gemma-3-4b-it-GGUF:Q4_K_M\n");
    CHECK_STR(preset_get(p, "from-hf", "model"), "ggml-org/gemma-3-4b-it-GGUF:Q4_K_M");
    preset_release(p);
    CHECK_ERR("[a]\nhf-file = x.gguf\n", "'hf-file' is a llama-server or Ollama setting");
}

/* A remote engine's keys (README "Remote engines"): the section as parsed, and every bad value
 * refused with its line. */
static void test_remote_keys(void)
{
    struct preset_set *p = parse("[big]\nremote = https://gpu.example:8000/v1/\n"
                                 "remote-model = meta-llama/Llama-3.1-70B-Instruct\n"
                                 "remote-api-key-env = VLLM_KEY\nremote-timeout = 60\n"
                                 "remote-connect-timeout = 3\ntemp = 0.2\n");
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(preset_get(p, "big", "remote"), "https://gpu.example:8000/v1/");
    CHECK_STR(preset_get(p, "big", "remote-model"), "meta-llama/Llama-3.1-70B-Instruct");
    CHECK_STR(preset_get(p, "big", "remote-api-key-env"), "VLLM_KEY");
    CHECK_STR(preset_get(p, "big", "remote-timeout"), "60");
    CHECK_STR(preset_get(p, "big", "temperature"), "0.2");
    preset_release(p);
    CHECK_ERR("[a]\nremote = ftp://x/v1\nremote-model = m\n",
              "t.ini:2: remote must be an http:// or https:// URL");
    CHECK_ERR("[a]\nremote = localhost:8080/v1\nremote-model = m\n",
              "remote must be an http:// or https:// URL");
    CHECK_ERR("[a]\nremote = \"http://x/v1 y\"\nremote-model = m\n", "without spaces");
    CHECK_ERR("[a]\nremote = https://u:secret@x/v1\nremote-model = m\n",
              "remote must not hold credentials");
    struct preset_set *q = parse("[a]\nremote = https://x/v1?user=a@b\nremote-model = m\n");
    CHECK(q != NULL); /* an '@' after the host is not a password */
    preset_release(q);
    CHECK_ERR("\n[a]\nremote = http://x/v1\n",
              "t.ini:2: [a:latest] has remote but no remote-model");
    CHECK_ERR("[a]\nmodel = b\nremote = http://x/v1\nremote-model = m\n",
              "has both model and remote");
    CHECK_ERR("[a]\nremote-model = m\n", "has remote-* keys but no remote = URL");
    CHECK_ERR("[*]\nremote = http://x/v1\n", "remote belongs in a model's section");
    CHECK_ERR("[a]\nremote = http://x/v1\nremote-model = m\nremote-api-key-env = sk-abc123\n",
              "remote-api-key-env must name an environment variable");
    CHECK_ERR("[a]\nremote = http://x/v1\nremote-model = m\nremote-timeout = 0\n",
              "remote-timeout must be a number of seconds from 1 to 86400");
    CHECK_ERR("[a]\nremote = http://x/v1\nremote-model = m\nremote-connect-timeout = x\n",
              "remote-connect-timeout must be a number of seconds");
}

static void test_quotes(void)
{
    struct preset_set *p = parse("[a]\r\nsystem = \"x;y # z\\t\\\\ \\x41\"  ; c\r\n"
                                 "stop = \"  padded  \"\r\n"
                                 "stop = bare value ; cut here\n"
                                 "stop = a#b\n");
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(preset_get(p, "a", "system"), "x;y # z\t\\ A");
    int n;
    const struct preset_kv *kv = preset_entries(p, "a", &n);
    CHECK(n == 4);
    if (n == 4) {
        CHECK_STR(kv[1].value, "  padded  ");
        CHECK_STR(kv[2].value, "bare value");
        CHECK_STR(kv[3].value, "a"); /* as llama-server: ';' and '#' end an unquoted value */
        CHECK(kv[3].line == 5);
    }
    preset_release(p);
}

static void test_errors(void)
{
    CHECK_ERR("c = 1\n", "t.ini:1: 'c' is outside a section");
    CHECK_ERR("[a]\nbogus = 1\n", "t.ini:2: unknown key 'bogus'");
    CHECK_ERR("[a]\n\n; x\nc = big\n", "t.ini:4: bad value for c: num_ctx must be an integer");
    CHECK_ERR("[a]\ntemp = -1\n", "t.ini:2: bad value for temp");
    CHECK_ERR("[a]\ntop-p = 2\n", "t.ini:2: bad value for top-p");
    CHECK_ERR("[a]\nfa = maybe\n", "t.ini:2: fa must be on, off or auto");
    CHECK_ERR("[a]\nno-mmap = perhaps\n", "t.ini:2: no-mmap must be true or false");
    CHECK_ERR("[a]\nc = 1\n[a:latest]\n",
              "t.ini:3: duplicate section [a:latest] (first on line 1)");
    CHECK_ERR("[a]\nc = 1\nctx-size = 2\n", "t.ini:3: 'num_ctx' is set twice in [a:latest]");
    CHECK_ERR("[a]\nsystem = \"open\n", "t.ini:2: unterminated quoted value");
    CHECK_ERR("[a]\nsystem = \"a\" b\n", "t.ini:2: text after the closing quote");
    CHECK_ERR("[a]\nsystem = \"\\q\"\n", "t.ini:2: unknown escape");
    CHECK_ERR("[a]\nsystem = \"\\x00\"\n", "t.ini:2: \\x needs two hex digits");
    CHECK_ERR("[a\n", "t.ini:1: section header without ']'");
    CHECK_ERR("[]\n", "t.ini:1: empty section name");
    CHECK_ERR("[bad name]\n", "t.ini:1: section [bad name] is not a model name");
    CHECK_ERR("[a] x\n", "t.ini:1: text after the section header");
    CHECK_ERR("[a]\n= 1\n", "t.ini:2: expected [SECTION], KEY = VALUE or a comment");
    CHECK_ERR("[a]\nc 1\n", "t.ini:2: expected '=' after 'c'");
    CHECK_ERR("[a]\nrope-scaling = yarn\n", "t.ini:2: 'rope-scaling' is a llama-server or Ollama "
                                            "setting that hearth does not support");
    CHECK_ERR("[a]\nLLAMA_ARG_CACHE_RAM = 0\n", "does not support");
    CHECK_ERR("[a]\ntfs_z = 1\n", "does not support");
    CHECK_ERR("[a]\njinja = false\n", "t.ini:2: jinja = false is not supported");
    CHECK_ERR("[a]\nload-mode = dio\n", "t.ini:2: load-mode 'dio' is not supported");
    CHECK_ERR("[*]\nmodel = x\n", "t.ini:2: model cannot be set in [*]");
    CHECK_ERR("[*]\nload-on-startup = true\n", "load-on-startup belongs in a model's section");
    CHECK_ERR("[a]\nload-on-startup = sometimes\n", "must be true or false");
    CHECK_ERR("[a]\nstop-timeout = -3\n", "stop-timeout must be a number of seconds");
    CHECK_ERR("[a]\nmessages = [1]\n", "t.ini:2: messages[0] must be an object");
    CHECK_ERR("[a]\nmessages = {\n", "t.ini:2: messages is not valid JSON");
    CHECK_ERR("[a]\nmodel = ../../etc\\x\n", "t.ini:2: bad value for model");
    CHECK_ERR("[a]\nsystem =\n", "t.ini:2: system must not be empty");
    CHECK_ERR("[a]\nstop = \"\"\n", "t.ini:2: bad value for stop");
    /* Caps: settings per section, list lengths from the params table, sections, file size. */
    struct buf_like {
        char *s;
        size_t n;
    } b = {xcalloc(1, PRESET_MAX_FILE + 16), 0};
    b.n += (size_t)sprintf(b.s, "[a]\n");
    for (int i = 0; i < PRESET_MAX_KEYS + 1; i++)
        b.n += (size_t)sprintf(b.s + b.n, "logit-bias = %d+1\n", i);
    CHECK_ERR(b.s, "more than 256 settings in [a:latest]");
    b.n = (size_t)sprintf(b.s, "[a]\n");
    for (int i = 0; i < PARAMS_MAX_STOPS + 1; i++)
        b.n += (size_t)sprintf(b.s + b.n, "stop = s%d\n", i);
    CHECK_ERR(b.s, "t.ini:34: bad value for stop: at most 32 values of stop");
    b.n = 0;
    for (int i = 0; i < PRESET_MAX_SECTIONS + 1; i++)
        b.n += (size_t)sprintf(b.s + b.n, "[m%d]\n", i);
    CHECK_ERR(b.s, "more than 4096 sections");
    memset(b.s, ' ', PRESET_MAX_FILE + 1);
    b.s[PRESET_MAX_FILE + 1] = '\0';
    CHECK_ERR(b.s, "larger than");
    free(b.s);
    struct preset_set *p;
    struct err e = {0};
    CHECK(preset_parse("t.ini", "[a]\nsystem = x\0y\n", 16, &p, &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "t.ini:2: the file holds a NUL byte") != NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = xcalloc(1, 1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void test_write(void)
{
    char dir[] = "/tmp/hearth-preset-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/sub/presets.ini", dir);
    struct err e = {0};
    struct strlist kv = {0};
    strlist_add(&kv, "temp=0.5");
    strlist_add(&kv, "system=line one\nline \"two\"; #3");
    strlist_add(&kv, "stop=<|im_end|>");
    /* A missing file and folder are created. */
    CHECK(preset_write_section(path, "qwen:latest", &kv, &e) == 0);
    char *s = slurp(path);
    CHECK_STR(s, "[qwen:latest]\ntemp = 0.5\nsystem = \"line one\\nline \\\"two\\\"; #3\"\n"
                 "stop = <|im_end|>\n");
    free(s);
    struct preset_set *p;
    CHECK(preset_load(path, &p, &e) == 0);
    CHECK_STR(preset_get(p, "qwen", "system"), "line one\nline \"two\"; #3");
    preset_release(p);

    /* Other sections, comments and odd spacing stay byte for byte. */
    const char *orig = "; top comment\r\n"
                       "version = 1\n"
                       "[*]\n"
                       "c   =   2048   # keep this\n"
                       "\n"
                       "[qwen]\n"
                       "; about qwen\n"
                       "temp = 0.1\n"
                       "top-k = 3\n"
                       "\n"
                       "; belongs to the next section\n"
                       "[other]\n"
                       "temp = 0.9\n"
                       "; the end";
    spit(path, orig);
    strlist_free(&kv);
    strlist_add(&kv, "temp=0.7");
    CHECK(preset_write_section(path, "qwen:latest", &kv, &e) == 0);
    s = slurp(path);
    CHECK_STR(s, "; top comment\r\n"
                 "version = 1\n"
                 "[*]\n"
                 "c   =   2048   # keep this\n"
                 "\n"
                 "[qwen:latest]\n"
                 "temp = 0.7\n"
                 "\n"
                 "; belongs to the next section\n"
                 "[other]\n"
                 "temp = 0.9\n"
                 "; the end");
    free(s);
    /* A new section goes at the end; removing one leaves the rest. */
    CHECK(preset_write_section(path, "new", &kv, &e) == 0);
    s = slurp(path);
    CHECK(strstr(s, "; the end\n\n[new]\ntemp = 0.7\n") != NULL);
    free(s);
    CHECK(preset_write_section(path, "other", NULL, &e) == 0);
    s = slurp(path);
    CHECK(strstr(s, "[other]") == NULL && strstr(s, "; belongs to the next section\n; the end") &&
          strstr(s, "[new]"));
    free(s);
    CHECK(preset_write_section(path, "gone", NULL, &e) == ERR_NOT_FOUND);
    /* A bad key or value is refused and the file is not touched. */
    char *before = slurp(path);
    strlist_free(&kv);
    strlist_add(&kv, "temp=hot");
    CHECK(preset_write_section(path, "new", &kv, &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "bad value for temp") != NULL);
    strlist_free(&kv);
    strlist_add(&kv, "no equals sign");
    CHECK(preset_write_section(path, "new", &kv, &e) == ERR_BAD_REQUEST);
    CHECK(preset_write_section(path, "bad name", &kv, &e) == ERR_BAD_REQUEST);
    s = slurp(path);
    CHECK_STR(s, before);
    free(s);
    free(before);
    strlist_free(&kv);

    /* The live file: changes are picked up, a bad edit keeps the last good set. */
    struct preset_live *l;
    spit(path, "[m]\nc = 100\n");
    CHECK(preset_live_open(path, 1, &l, &e) == 0);
    p = preset_live_get(l);
    CHECK_STR(preset_get(p, "m", "c"), "100");
    spit(path, "[m]\nc = 200\n");
    struct preset_set *q = preset_live_get(l);
    CHECK_STR(preset_get(q, "m", "c"), "200");
    CHECK_STR(preset_get(p, "m", "c"), "100"); /* the old snapshot stays valid */
    preset_release(p);
    preset_release(q);
    spit(path, "[m]\nc = 300\nbroken\n");
    p = preset_live_get(l);
    CHECK_STR(preset_get(p, "m", "c"), "200");
    preset_release(p);
    unlink(path);
    p = preset_live_get(l);
    CHECK(preset_get(p, "m", "c") == NULL);
    preset_release(p);
    preset_live_free(l);
    CHECK(preset_live_open(path, 1, &l, &e) == ERR_NOT_FOUND);
    CHECK(preset_live_open(path, 0, &l, &e) == 0);
    preset_live_free(l);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_keys();
    test_model_keys();
    test_remote_keys();
    test_quotes();
    test_errors();
    test_write();
    return check_done("test_preset");
}
