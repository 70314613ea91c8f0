#include "engine/mfile.h"

#include "base/util.h"
#include "engine/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <ggml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGML_MAX_NAME_LEN 63 /* GGML_MAX_NAME - 1: the terminator */

struct rd {
    const uint8_t *p;
    const uint8_t *end;
};

static int need(struct rd *r, uint64_t n)
{
    return (uint64_t)(r->end - r->p) >= n;
}

static uint32_t rd_u32(struct rd *r)
{
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static uint64_t rd_u64(struct rd *r)
{
    uint64_t v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static const size_t scalar_size[MFILE_VTYPE_COUNT] = {
    [MFILE_U8] = 1,  [MFILE_I8] = 1,  [MFILE_U16] = 2, [MFILE_I16] = 2,
    [MFILE_U32] = 4, [MFILE_I32] = 4, [MFILE_F32] = 4, [MFILE_BOOL] = 1,
    [MFILE_U64] = 8, [MFILE_I64] = 8, [MFILE_F64] = 8,
};

/* Reads a GGUF string (u64 length + bytes) whose length is capped by max. */
static int rd_str(struct rd *r, uint64_t max, const char **s, uint64_t *len)
{
    if (!need(r, 8))
        return -1;
    uint64_t n = rd_u64(r);
    if (n > max || !need(r, n))
        return -1;
    *s = (const char *)r->p;
    *len = n;
    r->p += n;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    const struct {
        const char *s;
        uint64_t n;
    } *x = a, *y = b;
    uint64_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, m);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* No key twice; and the metadata libllama trusts before it can fail cleanly: its layer count is
 * checked with an assert (an abort of the whole process), and Ollama divided by a mistyped one
 * (CVE-2024-8063). A layer count must be an integer from 1 to MFILE_MAX_LAYERS. */
static int cmp_keys(const void *a, const void *b)
{
    const struct mfile_kv *x = *(const struct mfile_kv *const *)a;
    const struct mfile_kv *y = *(const struct mfile_kv *const *)b;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return memcmp(x->key, y->key, x->key_len);
}

static int check_meta(struct mfile *f, struct err *e)
{
    /* A duplicate key would mean one thing to us and another to libllama (gguf refuses them). */
    if (f->n_kv > 1) {
        const struct mfile_kv **k = xcalloc(f->n_kv, sizeof(const struct mfile_kv *));
        for (uint64_t i = 0; i < f->n_kv; i++)
            k[i] = &f->kv[i];
        qsort(k, f->n_kv, sizeof(const struct mfile_kv *), cmp_keys);
        int rc = 0;
        for (uint64_t i = 1; i < f->n_kv && !rc; i++)
            if (!cmp_keys(&k[i - 1], &k[i]))
                rc = err_set(e, ERR_BAD_MODEL, "duplicate metadata key '%.*s'",
                             (int)(k[i]->key_len > 64 ? 64 : k[i]->key_len), k[i]->key);
        free(k);
        if (rc)
            return rc;
    }
    char *arch = mfile_get_str(f, "general.architecture");
    if (!arch)
        return 0;
    char key[128];
    snprintf(key, sizeof key, "%.100s.block_count", arch);
    free(arch);
    const struct mfile_kv *kv = mfile_find(f, key);
    if (!kv)
        return 0;
    int64_t n;
    if (mfile_get_int(f, key, &n))
        return err_set(e, ERR_BAD_MODEL, "%s is not an integer", key);
    if (n < 1 || n > MFILE_MAX_LAYERS)
        return err_set(e, ERR_BAD_MODEL, "%s is %lld; llama.cpp takes 1 to %d layers", key,
                       (long long)n, MFILE_MAX_LAYERS);
    return 0;
}

static int parse(struct mfile *f, struct err *e)
{
    struct rd r = {f->map, f->map + f->size};
    if (!need(&r, 24) || memcmp(r.p, "GGUF", 4) != 0)
        return err_set(e, ERR_BAD_MODEL, "not a GGUF file (bad magic)");
    r.p += 4;
    f->version = rd_u32(&r);
    if (f->version < 2 || f->version > 3)
        return err_set(e, ERR_BAD_MODEL, "unsupported GGUF version %u", f->version);
    f->n_tensors = rd_u64(&r);
    f->n_kv = rd_u64(&r);
    /* Each tensor info takes at least 32 bytes and each key/value at least 13. */
    if (f->n_tensors > MFILE_MAX_TENSORS || f->n_tensors > f->size / 32)
        return err_set(e, ERR_BAD_MODEL, "tensor count %llu is impossible for a %zu-byte file",
                       (unsigned long long)f->n_tensors, f->size);
    if (f->n_kv > MFILE_MAX_KV || f->n_kv > f->size / 13)
        return err_set(e, ERR_BAD_MODEL, "metadata count %llu is impossible for a %zu-byte file",
                       (unsigned long long)f->n_kv, f->size);

    f->kv = xcalloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->alignment = 32; /* GGUF_DEFAULT_ALIGNMENT */
    for (uint64_t i = 0; i < f->n_kv; i++) {
        struct mfile_kv *kv = &f->kv[i];
        if (rd_str(&r, MFILE_MAX_KEY, &kv->key, &kv->key_len) || kv->key_len == 0)
            return err_set(e, ERR_BAD_MODEL, "metadata key %llu is truncated or too long",
                           (unsigned long long)i);
        /* ggml looks keys up as C strings: "general.alignment\0x" would be one key to us and
         * another to it. */
        if (memchr(kv->key, '\0', kv->key_len))
            return err_set(e, ERR_BAD_MODEL, "metadata key %llu holds a NUL byte",
                           (unsigned long long)i);
        if (!need(&r, 4))
            return err_set(e, ERR_BAD_MODEL, "file truncated in metadata");
        kv->type = rd_u32(&r);
        kv->val = r.p;
        if (kv->type >= MFILE_VTYPE_COUNT)
            return err_set(e, ERR_BAD_MODEL, "metadata '%.*s' has unknown type %u",
                           (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key, kv->type);
        if (kv->type == MFILE_STRING) {
            const char *s;
            uint64_t n;
            if (rd_str(&r, UINT64_MAX, &s, &n))
                return err_set(e, ERR_BAD_MODEL, "metadata string '%.*s' runs past the file end",
                               (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key);
        } else if (kv->type == MFILE_ARRAY) {
            if (!need(&r, 12))
                return err_set(e, ERR_BAD_MODEL, "file truncated in metadata");
            kv->arr_type = rd_u32(&r);
            kv->arr_n = rd_u64(&r);
            if (kv->arr_type == MFILE_STRING) {
                if (kv->arr_n > (uint64_t)(r.end - r.p) / 8)
                    return err_set(e, ERR_BAD_MODEL, "array '%.*s' has an impossible length",
                                   (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key);
                for (uint64_t k = 0; k < kv->arr_n; k++) {
                    const char *s;
                    uint64_t n;
                    if (rd_str(&r, UINT64_MAX, &s, &n))
                        return err_set(e, ERR_BAD_MODEL,
                                       "string %llu of array '%.*s' runs past the file end",
                                       (unsigned long long)k,
                                       (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key);
                }
            } else if (kv->arr_type < MFILE_VTYPE_COUNT && kv->arr_type != MFILE_ARRAY) {
                size_t es = scalar_size[kv->arr_type];
                if (kv->arr_n > (uint64_t)(r.end - r.p) / es)
                    return err_set(e, ERR_BAD_MODEL, "array '%.*s' runs past the file end",
                                   (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key);
                r.p += kv->arr_n * es;
            } else {
                return err_set(e, ERR_BAD_MODEL, "array '%.*s' has unsupported element type %u",
                               (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key, kv->arr_type);
            }
        } else {
            if (!need(&r, scalar_size[kv->type]))
                return err_set(e, ERR_BAD_MODEL, "file truncated in metadata");
            r.p += scalar_size[kv->type];
        }
        if (kv->key_len == 17 && memcmp(kv->key, "general.alignment", 17) == 0) {
            uint32_t a;
            if (kv->type != MFILE_U32)
                return err_set(e, ERR_BAD_MODEL, "general.alignment must be a u32");
            memcpy(&a, kv->val, 4);
            if (a == 0 || (a & (a - 1)) || a > MFILE_MAX_ALIGNMENT)
                return err_set(e, ERR_BAD_MODEL, "alignment %u is not a power of two up to %u", a,
                               MFILE_MAX_ALIGNMENT);
            f->alignment = a;
        }
    }

    struct tinfo {
        const char *s;
        uint64_t n;
        uint64_t off, bytes;
        uint32_t type;
    } *ti = xcalloc(f->n_tensors ? f->n_tensors : 1, sizeof *ti);
    int rc = 0;
    for (uint64_t i = 0; i < f->n_tensors && !rc; i++) {
        if (rd_str(&r, GGML_MAX_NAME_LEN, &ti[i].s, &ti[i].n) || !need(&r, 4)) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor %llu: name truncated or longer than %d bytes",
                         (unsigned long long)i, GGML_MAX_NAME_LEN);
            break;
        }
        if (memchr(ti[i].s, '\0', ti[i].n)) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor %llu: the name holds a NUL byte",
                         (unsigned long long)i);
            break;
        }
        int nl = (int)ti[i].n;
        uint32_t nd = rd_u32(&r);
        if (nd < 1 || nd > GGML_MAX_DIMS || !need(&r, 8ull * nd + 12)) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': %u dimensions", nl, ti[i].s, nd);
            break;
        }
        int64_t ne[GGML_MAX_DIMS] = {1, 1, 1, 1};
        uint64_t nel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v = rd_u64(&r);
            if (v > (uint64_t)INT64_MAX || (v && nel > (uint64_t)INT64_MAX / v)) {
                rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': shape overflows", nl, ti[i].s);
                break;
            }
            ne[d] = (int64_t)v;
            nel *= v;
        }
        if (rc)
            break;
        uint32_t type = rd_u32(&r);
        ti[i].type = type;
        ti[i].off = rd_u64(&r);
        if (type >= GGML_TYPE_COUNT || ggml_blck_size((enum ggml_type)type) <= 0 ||
            ggml_type_size((enum ggml_type)type) == 0) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': unknown type %u", nl, ti[i].s, type);
            break;
        }
        int64_t blck = ggml_blck_size((enum ggml_type)type);
        if (ne[0] % blck) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': row of %lld is not a multiple of %lld",
                         nl, ti[i].s, (long long)ne[0], (long long)blck);
            break;
        }
        /* bytes = row size * rows, each step checked: a tensor larger than the file is refused
         * here rather than after an overflow makes it look small. */
        uint64_t tsize = ggml_type_size((enum ggml_type)type);
        uint64_t blocks = (uint64_t)(ne[0] / blck);
        uint64_t rows = ne[0] ? nel / (uint64_t)ne[0] : 0;
        if (blocks > f->size / tsize || (rows && blocks * tsize > f->size / rows)) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': %llu elements cannot fit in the file",
                         nl, ti[i].s, (unsigned long long)nel);
            break;
        }
        uint64_t row = blocks * tsize;
        if (rows && row > UINT64_MAX / rows) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': size overflows", nl, ti[i].s);
            break;
        }
        ti[i].bytes = row * rows;
        f->n_elements += nel;
        if (ti[i].off % f->alignment) {
            rc = err_set(e, ERR_BAD_MODEL, "tensor '%.*s': offset %llu is not aligned to %u", nl,
                         ti[i].s, (unsigned long long)ti[i].off, f->alignment);
            break;
        }
    }
    if (!rc) {
        uint64_t pos = (uint64_t)(r.p - f->map);
        f->data_offset = (pos + f->alignment - 1) / f->alignment * f->alignment;
        f->tensor_bytes = 0;
        /* As ggml's reader demands: each tensor's data follows the previous one's, padded to
         * the alignment, so none overlaps another. */
        uint64_t expect = 0;
        uint64_t embd = 0, output = 0;
        for (uint64_t i = 0; i < f->n_tensors && !rc; i++) {
            if (ti[i].n > 4 && !memcmp(ti[i].s, "blk.", 4))
                f->layer_bytes += ti[i].bytes;
            else if (ti[i].n == 13 && !memcmp(ti[i].s, "output.weight", 13))
                output += ti[i].bytes;
            else if (ti[i].n == 17 && !memcmp(ti[i].s, "token_embd.weight", 17))
                embd += ti[i].bytes;
            if (ti[i].off > f->size || ti[i].bytes > f->size ||
                f->data_offset + ti[i].off + ti[i].bytes > f->size)
                rc = err_set(e, ERR_BAD_MODEL,
                             "tensor '%.*s': data (%llu bytes at %llu) runs past the end of the "
                             "%zu-byte file (truncated download?)",
                             (int)ti[i].n, ti[i].s, (unsigned long long)ti[i].bytes,
                             (unsigned long long)f->data_offset + ti[i].off, f->size);
            else if (ti[i].off != expect)
                rc = err_set(e, ERR_BAD_MODEL,
                             "tensor '%.*s' is at offset %llu of the data, expected %llu (tensors "
                             "must follow each other)",
                             (int)ti[i].n, ti[i].s, (unsigned long long)ti[i].off,
                             (unsigned long long)expect);
            /* Both are at most the file size here, so this does not overflow. */
            expect += (ti[i].bytes + f->alignment - 1) / f->alignment * f->alignment;
            f->tensor_bytes += ti[i].bytes;
        }
        f->output_bytes = output ? output : embd;
    }
    if (!rc) {
        uint64_t by_type[GGML_TYPE_COUNT] = {0};
        for (uint64_t i = 0; i < f->n_tensors; i++)
            by_type[ti[i].type] += ti[i].bytes;
        for (int t = 0; t < GGML_TYPE_COUNT; t++)
            if (by_type[t] > by_type[f->main_type])
                f->main_type = t;
    }
    if (!rc && f->n_tensors > 1) {
        qsort(ti, f->n_tensors, sizeof *ti, cmp_names);
        for (uint64_t i = 1; i < f->n_tensors && !rc; i++)
            if (ti[i].n == ti[i - 1].n && memcmp(ti[i].s, ti[i - 1].s, ti[i].n) == 0)
                rc = err_set(e, ERR_BAD_MODEL, "duplicate tensor '%.*s'", (int)ti[i].n, ti[i].s);
    }
    free(ti);
    if (!rc)
        rc = check_meta(f, e);
    return rc;
}

int mfile_open(const char *path, struct mfile *out, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(e, ERR_NOT_FOUND, "%s: no such file", path);
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return err_set(e, ERR_IO, "%s: %s", path, strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(e, ERR_BAD_REQUEST, "%s is a directory, not a GGUF file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, ERR_BAD_REQUEST, "%s is not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return err_set(e, ERR_BAD_MODEL, "%s: not a GGUF file (%lld bytes)", path,
                       (long long)st.st_size);
    }
    struct mfile f;
    memset(&f, 0, sizeof f);
    f.size = (size_t)st.st_size;
    struct bundle b;
    struct err be = {0};
    int brc = bundle_locate(fd, &b, &be);
    if (brc < 0) {
        close(fd);
        return err_set(e, brc, "%s: %s", path, be.msg);
    }
    if (brc == 0) { /* the GGUF inside a bundle, at a page-aligned offset */
        f.base = b.gguf_offset;
        f.size = (size_t)b.gguf_size;
    }
    void *map = mmap(NULL, f.size, PROT_READ, MAP_PRIVATE, fd, (off_t)f.base);
    close(fd);
    if (map == MAP_FAILED)
        return err_set(e, ERR_IO, "%s: mmap: %s", path, strerror(errno));
    f.map = map;
    struct err pe = {0};
    int rc = parse(&f, &pe);
    if (rc) {
        mfile_close(&f);
        return err_set(e, rc, "%s: %s", path, pe.msg);
    }
    *out = f;
    return 0;
}

void mfile_close(struct mfile *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, f->size);
    free(f->kv);
    memset(f, 0, sizeof *f);
}

const struct mfile_kv *mfile_find(const struct mfile *f, const char *key)
{
    size_t n = strlen(key);
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key_len == n && memcmp(f->kv[i].key, key, n) == 0)
            return &f->kv[i];
    return NULL;
}

char *mfile_get_str(const struct mfile *f, const char *key)
{
    const struct mfile_kv *kv = mfile_find(f, key);
    if (!kv || kv->type != MFILE_STRING)
        return NULL;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    return xstrndup((const char *)kv->val + 8, n);
}

int mfile_get_int(const struct mfile *f, const char *key, int64_t *out)
{
    const struct mfile_kv *kv = mfile_find(f, key);
    if (!kv)
        return ERR_NOT_FOUND;
    size_t n = 0;
    int is_signed = 0;
    switch (kv->type) {
    case MFILE_I8: is_signed = 1; /* fall through */
    case MFILE_U8: n = 1; break;
    case MFILE_I16: is_signed = 1; /* fall through */
    case MFILE_U16: n = 2; break;
    case MFILE_I32: is_signed = 1; /* fall through */
    case MFILE_U32: n = 4; break;
    case MFILE_I64: /* fall through */
    case MFILE_U64: n = 8; break;
    default: return ERR_NOT_FOUND;
    }
    /* GGUF is little-endian, as are the hosts llama.cpp runs on. */
    uint64_t u = 0;
    memcpy(&u, kv->val, n);
    if (is_signed && n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~0ull << (8 * n); /* sign-extend */
    *out = (int64_t)u;
    return 0;
}
