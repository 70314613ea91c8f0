#include "base/buf.h"
#include "check.h"
#include "store/modelfile.h"

#include <stdlib.h>

static int parse(const char *text, struct modelfile *m, struct err *e)
{
    memset(e, 0, sizeof *e);
    return modelfile_parse(text, strlen(text), m, e);
}

/* Parses a bad Modelfile and checks the error code and that the message holds want. */
static void bad(const char *text, int code, const char *want, int line)
{
    struct modelfile m;
    struct err e;
    int rc = parse(text, &m, &e);
    check_count++;
    if (rc != code || !strstr(e.msg, want)) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected %d \"%s\", got %d \"%s\"\n", __FILE__, line, code, want,
                rc, e.msg);
    }
    modelfile_free(&m);
}
#define BAD(text, code, want) bad(text, code, want, __LINE__)

static void every_instruction(void)
{
    const char *text = "# a comment\n"
                       "  # an indented comment\n"
                       "\n"
                       "from ./base.gguf\n"
                       "PARAMETER temperature 0.2\n"
                       "parameter num_ctx 512\n"
                       "Parameter stop \"<|end|>\"\n"
                       "PARAMETER stop User:\n"
                       "PARAMETER num_predict    7   \n"
                       "TEMPLATE \"\"\"{{ if .System }}{{ .System }}{{ end }}\n"
                       "{{ .Prompt }}\"\"\"\n"
                       "SYSTEM \"\"\"\n"
                       "You are terse.\n"
                       "  Indented line.\n"
                       "\"\"\"\n"
                       "ADAPTER ./lora.gguf\n"
                       "LICENSE MIT\n"
                       "license \"\"\"Apache\n"
                       "2.0\"\"\"\n"
                       "MESSAGE user Hello there\n"
                       "MESSAGE assistant \"Hi, \"friend\"\"\n"
                       "message system \"two\n"
                       "lines\"\n"
                       "REQUIRES v0.5.1\r\n";
    struct modelfile m;
    struct err e;
    CHECK(parse(text, &m, &e) == 0);
    CHECK_STR(m.from, "./base.gguf");
    CHECK(m.from_line == 4);
    CHECK(m.params.n == 5);
    if (m.params.n == 5) {
        CHECK_STR(m.params.v[0], "temperature=0.2");
        CHECK_STR(m.params.v[1], "num_ctx=512");
        CHECK_STR(m.params.v[2], "stop=<|end|>");
        CHECK_STR(m.params.v[3], "stop=User:");
        CHECK_STR(m.params.v[4], "num_predict=7");
    }
    CHECK_STR(m.template_text, "{{ if .System }}{{ .System }}{{ end }}\n{{ .Prompt }}");
    CHECK(m.template_is_go == 1);
    CHECK_STR(m.system, "\nYou are terse.\n  Indented line.\n");
    CHECK_STR(m.adapter, "./lora.gguf");
    CHECK(m.licenses.n == 2);
    if (m.licenses.n == 2) {
        CHECK_STR(m.licenses.v[0], "MIT");
        CHECK_STR(m.licenses.v[1], "Apache\n2.0");
    }
    CHECK(m.n_messages == 3);
    if (m.n_messages == 3 && m.messages) {
        CHECK_STR(m.messages[0].role, "user");
        CHECK_STR(m.messages[0].content, "Hello there");
        CHECK_STR(m.messages[1].role, "assistant");
        CHECK_STR(m.messages[1].content, "Hi, \"friend\"");
        CHECK_STR(m.messages[2].role, "system");
        CHECK_STR(m.messages[2].content, "two\nlines");
    }
    CHECK_STR(m.requires, "0.5.1");
    modelfile_free(&m);
    CHECK(m.from == NULL && m.n_messages == 0);
    modelfile_free(NULL);
}

static void values(void)
{
    struct modelfile m;
    struct err e;
    /* A bare value keeps inner spaces and '#' (comments only start a line, as in Ollama). */
    CHECK(parse("FROM llama3.2:1b   # not a comment\n", &m, &e) == 0);
    CHECK_STR(m.from, "llama3.2:1b   # not a comment");
    modelfile_free(&m);
    /* A one-line heredoc, a quoted value with leading spaces, an empty quoted system. */
    CHECK(parse("FROM x\nTEMPLATE \"\"\"{{ messages }}\"\"\"\nSYSTEM \"  padded \"\n", &m, &e) ==
          0);
    CHECK_STR(m.template_text, "{{ messages }}");
    CHECK(m.template_is_go == 0);
    CHECK_STR(m.system, "  padded ");
    modelfile_free(&m);
    CHECK(parse("FROM x\nSYSTEM \"\"\n", &m, &e) == 0);
    CHECK_STR(m.system, "");
    modelfile_free(&m);
    /* A UTF-8 BOM and CRLF line ends. */
    CHECK(parse("\xEF\xBB\xBF"
                "FROM sha256:abc\r\nSYSTEM hi\r\n",
                &m, &e) == 0);
    CHECK_STR(m.from, "sha256:abc");
    CHECK_STR(m.system, "hi");
    modelfile_free(&m);
    /* No newline at the end; tabs as separators. */
    CHECK(parse("FROM\tbase\nPARAMETER\ttop_k\t5", &m, &e) == 0);
    CHECK_STR(m.from, "base");
    CHECK(m.params.n == 1 && !strcmp(m.params.v[0], "top_k=5"));
    modelfile_free(&m);
    /* Aliases and dashes reach the canonical name. */
    CHECK(parse("FROM x\nPARAMETER temp 0.5\nPARAMETER ctx-size 64\n", &m, &e) == 0);
    CHECK(m.params.n == 2 && !strcmp(m.params.v[0], "temperature=0.5") &&
          !strcmp(m.params.v[1], "num_ctx=64"));
    modelfile_free(&m);
    /* A Jinja template with {% %} is not a Go template even with a leading dot. */
    CHECK(modelfile_template_is_go("{% for m in messages %}{{ m.content }}{% endfor %}") == 0);
    CHECK(modelfile_template_is_go("{{- range .Messages }}{{ .Content }}{{ end }}") == 1);
    CHECK(modelfile_template_is_go("{{ $.System }}") == 1);
    CHECK(modelfile_template_is_go("plain text") == 0);
    CHECK(modelfile_template_is_go("{{ bos_token }}{{ messages[0].content }}") == 0);
}

static void bad_files(void)
{
    BAD("", ERR_BAD_REQUEST, "no FROM line");
    BAD("# only a comment\n", ERR_BAD_REQUEST, "no FROM line");
    BAD("SYSTEM hi\n", ERR_BAD_REQUEST, "no FROM line");
    BAD("FROM x\n\n\n\n\n\nFORM y\n", ERR_BAD_REQUEST, "line 7: unknown instruction 'FORM'");
    BAD("FROM x\nFROM=y\n", ERR_BAD_REQUEST, "line 2: unknown instruction 'FROM=y'");
    BAD("FROM\n", ERR_BAD_REQUEST, "line 1: FROM needs a value");
    BAD("FROM x\nSYSTEM   \n", ERR_BAD_REQUEST, "line 2: SYSTEM needs a value");
    BAD("FROM x\nFROM y\n", ERR_BAD_REQUEST, "line 2: FROM is given twice (first on line 1)");
    BAD("FROM x\nSYSTEM a\nSYSTEM b\n", ERR_BAD_REQUEST, "line 3: SYSTEM is given twice");
    BAD("FROM x\nTEMPLATE a\nTEMPLATE b\n", ERR_BAD_REQUEST, "line 3: TEMPLATE is given twice");
    BAD("FROM x\nADAPTER a\nADAPTER b\n", ERR_BAD_REQUEST, "line 3: ADAPTER is given twice");
    BAD("FROM x\nPARAMETER temperature\n", ERR_BAD_REQUEST,
        "line 2: PARAMETER temperature needs a value");
    BAD("FROM x\nPARAMETER no_such_knob 1\n", ERR_BAD_REQUEST,
        "line 2: unknown parameter 'no_such_knob'");
    BAD("FROM x\nPARAMETER temperature hot\n", ERR_BAD_REQUEST,
        "line 2: temperature must be a number");
    BAD("FROM x\nPARAMETER top_p 2\n", ERR_BAD_REQUEST, "line 2: top_p must be a number from 0");
    BAD("FROM x\nPARAMETER num_ctx 1\nPARAMETER num_ctx 2\n", ERR_BAD_REQUEST,
        "line 3: parameter 'num_ctx' is given twice");
    BAD("FROM x\nPARAMETER penalize_newline true\n", ERR_BAD_REQUEST,
        "line 2: parameter 'penalize_newline' is deprecated");
    BAD("FROM x\nMESSAGE robot hi\n", ERR_BAD_REQUEST,
        "line 2: message role must be system, user or assistant, not 'robot'");
    BAD("FROM x\nMESSAGE user\n", ERR_BAD_REQUEST, "line 2: MESSAGE user needs a value");
    BAD("FROM x\nSYSTEM \"\"\"never\nclosed\n", ERR_BAD_REQUEST,
        "line 2: the \"\"\" opened here is never closed");
    BAD("FROM x\n\nSYSTEM \"open\n", ERR_BAD_REQUEST, "line 3: the quote opened here");
    BAD("FROM x\nREQUIRES soon\n", ERR_BAD_REQUEST, "line 2: REQUIRES must be a version");
    BAD("FROM x\nREQUIRES 1.02.3\n", ERR_BAD_REQUEST, "REQUIRES must be a version");
    BAD("FROM x\nDRAFT ./small.gguf\n", ERR_BAD_REQUEST, "line 2: DRAFT is not supported");
    BAD("FROM x\nRENDERER qwen3-coder\n", ERR_BAD_REQUEST, "line 2: RENDERER is not supported");
    BAD("FROM x\nparser qwen3-coder\n", ERR_BAD_REQUEST, "line 2: PARSER is not supported");

    /* Caps: the file, one value, the instruction count, the stop list. */
    struct modelfile m;
    struct err e;
    size_t big = MODELFILE_MAX_SIZE + 1;
    char *t = malloc(big + 1);
    memset(t, 'a', big);
    t[big] = '\0';
    CHECK(modelfile_parse(t, big, &m, &e) == ERR_TOO_LARGE);
    modelfile_free(&m);
    size_t vlen = MODELFILE_MAX_VALUE + 100;
    memcpy(t, "FROM x\nSYSTEM ", 14);
    memset(t + 14, 'b', vlen);
    t[14 + vlen] = '\0';
    CHECK(parse(t, &m, &e) == ERR_TOO_LARGE && strstr(e.msg, "line 2: the value is longer"));
    modelfile_free(&m);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "FROM x\n");
    for (int i = 0; i < MODELFILE_MAX_COMMANDS; i++)
        buf_puts(&b, "LICENSE l\n");
    CHECK(parse(b.data, &m, &e) == ERR_TOO_LARGE && strstr(e.msg, "more than 1024 instructions"));
    modelfile_free(&m);
    buf_reset(&b);
    buf_puts(&b, "FROM x\n");
    for (int i = 0; i <= PARAMS_MAX_STOPS; i++)
        buf_puts(&b, "PARAMETER stop s\n");
    CHECK(parse(b.data, &m, &e) == ERR_TOO_LARGE && strstr(e.msg, "line 34: at most 32 values"));
    modelfile_free(&m);
    buf_free(&b);
    /* A NUL byte. */
    CHECK(modelfile_parse("FROM x\0y", 8, &m, &e) == ERR_BAD_REQUEST && strstr(e.msg, "NUL"));
    modelfile_free(&m);
    free(t);
}

/* Every prefix of a full Modelfile and a few thousand byte mutations parse or fail with a
 * message; under ASan this also shows that no input reads or writes out of bounds. */
static void mutations(void)
{
    const char *base = "FROM ./m.gguf\nPARAMETER temperature 0.2\nPARAMETER stop \"<|e|>\"\n"
                       "TEMPLATE \"\"\"{{ .Prompt }}\n\"\"\"\nSYSTEM \"a\"\nADAPTER x\n"
                       "LICENSE \"\"\"l\"\"\"\nMESSAGE user \"hi\"\nREQUIRES 0.1.0\n# c\n";
    size_t n = strlen(base);
    char buf[512];
    int failures = 0;
    for (size_t len = 0; len <= n; len++) {
        struct modelfile m;
        struct err e = {0};
        int rc = modelfile_parse(base, len, &m, &e);
        failures += rc != 0 && (rc > 0 || !e.msg[0]);
        failures += rc == 0 && !m.from;
        modelfile_free(&m);
    }
    unsigned seed = 12345;
    const char alphabet[] = "\"\n\r\t #=\\{}aZ0\x01\xff";
    for (int iter = 0; iter < 5000; iter++) {
        memcpy(buf, base, n + 1);
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            buf[at] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        struct modelfile m;
        struct err e = {0};
        int rc = modelfile_parse(buf, n, &m, &e);
        failures += rc != 0 && (rc > 0 || !e.msg[0]);
        failures += rc == 0 && !m.from;
        modelfile_free(&m);
    }
    CHECK(failures == 0);
}

int main(void)
{
    every_instruction();
    mutations();
    values();
    bad_files();
    return check_done("test_modelfile");
}
