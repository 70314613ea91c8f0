/* The GGUF checker: real models pass; hostile headers are refused with a message that names
 * the problem, and nothing is read out of bounds (run under ASan in CI). */
#include "base/buf.h"
#include "check.h"
#include "engine/mfile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmp_path[256];

static void u32(struct buf *b, uint32_t v)
{
    buf_append(b, &v, 4);
}
static void u64(struct buf *b, uint64_t v)
{
    buf_append(b, &v, 8);
}
static void str(struct buf *b, const char *s)
{
    u64(b, strlen(s));
    buf_append(b, s, strlen(s));
}

struct spec {
    uint32_t version;
    uint64_t n_tensors_hdr; /* 0: the real count */
    uint64_t n_kv_hdr;
    uint32_t alignment; /* 0: none written */
    uint32_t n_dims;
    uint64_t ne0;
    uint32_t type;
    uint64_t offset;
    int dup_name;
    int drop_data_bytes;
    uint64_t arr_n; /* 0: a normal array */
};

/* A GGUF with one string kv, one array kv, optional alignment, and two F32 tensors. */
static size_t build(const struct spec *s, struct buf *b)
{
    buf_reset(b);
    buf_append(b, "GGUF", 4);
    u32(b, s->version ? s->version : 3);
    u64(b, s->n_tensors_hdr ? s->n_tensors_hdr : 2);
    u64(b, s->n_kv_hdr ? s->n_kv_hdr : (s->alignment ? 3 : 2));
    str(b, "general.architecture");
    u32(b, MFILE_STRING);
    str(b, "llama");
    str(b, "tokenizer.ggml.scores");
    u32(b, MFILE_ARRAY);
    u32(b, MFILE_F32);
    u64(b, s->arr_n ? s->arr_n : 2);
    u32(b, 0);
    u32(b, 0);
    if (s->alignment) {
        str(b, "general.alignment");
        u32(b, MFILE_U32);
        u32(b, s->alignment);
    }
    uint32_t align = s->alignment && !(s->alignment & (s->alignment - 1)) ? s->alignment : 32;
    str(b, "a.weight");
    u32(b, s->n_dims ? s->n_dims : 1);
    for (uint32_t d = 0; d < (s->n_dims ? s->n_dims : 1); d++)
        u64(b, d == 0 && s->ne0 ? s->ne0 : 8);
    u32(b, s->type);
    u64(b, s->offset);
    str(b, s->dup_name ? "a.weight" : "b.weight");
    u32(b, 1);
    u64(b, 8);
    u32(b, 0);
    u64(b, 32 > align ? 32 : align);
    while (b->len % align)
        buf_append(b, "", 1);
    size_t data = (32 > align ? 32 : align) + 32;
    for (size_t i = 0; i < data - (size_t)s->drop_data_bytes; i++)
        buf_append(b, "", 1);
    return b->len;
}

static int open_bytes(const struct buf *b, struct err *e)
{
    FILE *f = fopen(tmp_path, "wb");
    fwrite(b->data, 1, b->len, f);
    fclose(f);
    struct mfile m;
    int rc = mfile_open(tmp_path, &m, e);
    if (!rc)
        mfile_close(&m);
    return rc;
}

#define EXPECT_BAD(spec_init, needle)                                                              \
    do {                                                                                           \
        struct spec s_ = spec_init;                                                                \
        build(&s_, &b);                                                                            \
        struct err e_ = {0};                                                                       \
        int rc_ = open_bytes(&b, &e_);                                                             \
        if (rc_ != ERR_BAD_MODEL)                                                                  \
            fprintf(stderr, "line %d: rc %d (%s)\n", __LINE__, rc_, e_.msg);                       \
        CHECK(rc_ == ERR_BAD_MODEL);                                                               \
        if (!strstr(e_.msg, needle)) {                                                             \
            fprintf(stderr, "line %d: message \"%s\" lacks \"%s\"\n", __LINE__, e_.msg, needle);   \
            CHECK(0);                                                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/hearth-test-mfile-%d.gguf", (int)getpid());
    struct buf b;
    buf_init(&b, 0);
    struct err e = {0};

    /* The builder's own output is valid. */
    struct spec ok = {0};
    build(&ok, &b);
    CHECK(open_bytes(&b, &e) == 0);
    struct spec ok_al = {.alignment = 64};
    build(&ok_al, &b);
    CHECK(open_bytes(&b, &e) == 0);

    EXPECT_BAD(((struct spec){.version = 1}), "version 1");
    EXPECT_BAD(((struct spec){.version = 99}), "version 99");
    EXPECT_BAD(((struct spec){.n_tensors_hdr = 1ull << 60}), "tensor count");
    EXPECT_BAD(((struct spec){.n_kv_hdr = 1ull << 62}), "metadata count");
    EXPECT_BAD(((struct spec){.n_kv_hdr = 9}), "");
    EXPECT_BAD(((struct spec){.alignment = 48}), "alignment 48");
    EXPECT_BAD(((struct spec){.alignment = 1u << 17}), "alignment 131072");
    EXPECT_BAD(((struct spec){.n_dims = 5}), "5 dimensions");
    EXPECT_BAD(((struct spec){.type = 9999}), "unknown type");
    EXPECT_BAD(((struct spec){.ne0 = 1ull << 62}), "");
    EXPECT_BAD(((struct spec){.offset = 8}), "not aligned");
    EXPECT_BAD(((struct spec){.offset = 1ull << 40}), "runs past the end");
    EXPECT_BAD(((struct spec){.drop_data_bytes = 1}), "runs past the end");
    EXPECT_BAD(((struct spec){.dup_name = 1}), "duplicate tensor");
    EXPECT_BAD(((struct spec){.offset = 32}), "expected 0 (tensors must follow each other)");
    EXPECT_BAD(((struct spec){.arr_n = 1ull << 61}), "array");
    EXPECT_BAD(((struct spec){.type = 2, .ne0 = 8}), "multiple of 32"); /* Q4_0 rows */

    /* Every truncation of a valid file is refused, never read past. */
    build(&ok, &b);
    size_t full = b.len;
    int refused = 0;
    for (size_t cut = 0; cut < full; cut++) {
        struct buf c;
        buf_init(&c, 0);
        buf_append(&c, b.data, cut);
        refused += open_bytes(&c, &e) != 0;
        buf_free(&c);
    }
    CHECK(refused == (int)full);

    /* Not a file. */
    struct mfile m;
    CHECK(mfile_open("/nonexistent/x.gguf", &m, &e) == ERR_NOT_FOUND);
    CHECK(mfile_open("/tmp", &m, &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "directory") != NULL);

    /* A real model passes and its metadata can be read. */
    const char *models = getenv("MODELS");
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", models ? models : "../shared/models");
    CHECK(mfile_open(path, &m, &e) == 0);
    char *arch = mfile_get_str(&m, "general.architecture");
    CHECK_STR(arch, "llama");
    free(arch);
    int64_t n;
    CHECK(mfile_get_int(&m, "llama.block_count", &n) == 0 && n == 5);
    CHECK(m.n_tensors > 0 && m.tensor_bytes > 1000000);
    mfile_close(&m);

    unlink(tmp_path);
    buf_free(&b);
    return check_done("test_mfile");
}
