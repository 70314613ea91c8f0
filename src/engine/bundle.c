/* The bundle format (bundle.h): finding the appended model, checking it, writing it. */
#include "engine/bundle.h"

#include "base/sha256.h"
#include "base/util.h"
#include "engine/mfile.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char stamp_magic[16] = "HEARTH-BUNDLE\0\0";
static const char trailer_magic[8] = "HEARTHBN";

/* ---- little-endian fields ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Reads exactly n bytes at off. 0, or -1 (errno set; EIO at a short file). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the ELF image ---- */

int bundle_elf_end(int fd, uint64_t file_size, uint64_t *end)
{
    Elf64_Ehdr eh;
    if (file_size < sizeof eh || pread_all(fd, &eh, sizeof eh, 0) != 0)
        return 1;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return 1;
    uint64_t e = sizeof eh;
    uint64_t sh_end = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
    if (eh.e_shoff && sh_end > e)
        e = sh_end;
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 4096)
        return 1;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread_all(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph) != 0)
            return 1;
        if (ph.p_offset + ph.p_filesz > e)
            e = ph.p_offset + ph.p_filesz;
    }
    if (e > file_size)
        return 1;
    *end = e;
    return 0;
}

/* ---- reading ---- */

/* The trailer's bytes from its fields (the magic included); the meta digest is hashed over
 * the first TRAILER_HASHED bytes, which hold everything but the meta digest itself. */
#define TRAILER_HASHED (4 + 4 + 6 * 8 + 64)

static void trailer_encode(const struct bundle *b, unsigned char t[BUNDLE_TRAILER])
{
    memset(t, 0, BUNDLE_TRAILER);
    put_u32(t, BUNDLE_VERSION);
    put_u32(t + 4, BUNDLE_TRAILER);
    put_u64(t + 8, b->exe_size);
    put_u64(t + 16, b->gguf_offset);
    put_u64(t + 24, b->gguf_size);
    put_u64(t + 32, b->preset_offset);
    put_u64(t + 40, b->preset_size);
    put_u64(t + 48, b->header_size);
    memcpy(t + 56, b->weights_sha, 64);
    memcpy(t + TRAILER_HASHED, b->meta_sha, 64);
    memcpy(t + BUNDLE_TRAILER - sizeof trailer_magic, trailer_magic, sizeof trailer_magic);
}

static void stamp_encode(uint64_t file_size, unsigned char s[BUNDLE_STAMP])
{
    memset(s, 0, BUNDLE_STAMP);
    memcpy(s, stamp_magic, sizeof stamp_magic);
    put_u32(s + 16, BUNDLE_VERSION);
    put_u32(s + 20, BUNDLE_STAMP);
    put_u64(s + 24, file_size);
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int bundle_locate(int fd, struct bundle *b, struct err *e)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 1;
    uint64_t size = (uint64_t)st.st_size, elf_end;
    if (bundle_elf_end(fd, size, &elf_end) || elf_end == size)
        return 1;
    unsigned char s[BUNDLE_STAMP];
    /* What follows the image starts as our stamp does (a copy cut inside the stamp is still
     * ours), or it is something else appended to an executable: not ours. */
    size_t have =
        size - elf_end < sizeof stamp_magic ? (size_t)(size - elf_end) : sizeof stamp_magic;
    if (pread_all(fd, s, have, elf_end) || memcmp(s, stamp_magic, have) != 0)
        return 1;
    if (size - elf_end < BUNDLE_STAMP || pread_all(fd, s, BUNDLE_STAMP, elf_end))
        return err_set(e, ERR_BAD_MODEL, "the bundle is truncated: its stamp is cut short");
    if (get_u32(s + 16) != BUNDLE_VERSION)
        return err_set(e, ERR_BAD_MODEL,
                       "the bundle has format version %u; this hearth reads version %u",
                       get_u32(s + 16), BUNDLE_VERSION);
    uint64_t want = get_u64(s + 24);
    if (want != size)
        return err_set(e, ERR_BAD_MODEL,
                       "the bundle is %s: %llu bytes where it was written with %llu (an "
                       "incomplete copy?)",
                       size < want ? "truncated" : "longer than written", (unsigned long long)size,
                       (unsigned long long)want);
    unsigned char t[BUNDLE_TRAILER];
    if (size < elf_end + BUNDLE_STAMP + BUNDLE_TRAILER ||
        pread_all(fd, t, BUNDLE_TRAILER, size - BUNDLE_TRAILER))
        return err_set(e, ERR_BAD_MODEL, "the bundle has no trailer");
    if (memcmp(t + BUNDLE_TRAILER - sizeof trailer_magic, trailer_magic, sizeof trailer_magic) !=
            0 ||
        get_u32(t) != BUNDLE_VERSION || get_u32(t + 4) != BUNDLE_TRAILER)
        return err_set(e, ERR_BAD_MODEL, "the bundle's trailer is damaged (bad magic or version)");
    memset(b, 0, sizeof *b);
    b->file_size = size;
    b->exe_size = get_u64(t + 8);
    b->gguf_offset = get_u64(t + 16);
    b->gguf_size = get_u64(t + 24);
    b->preset_offset = get_u64(t + 32);
    b->preset_size = get_u64(t + 40);
    b->header_size = get_u64(t + 48);
    memcpy(b->weights_sha, t + 56, 64);
    memcpy(b->meta_sha, t + TRAILER_HASHED, 64);
    /* Every region in order, inside the file, none overlapping: the stamp right after the
     * image, the GGUF aligned after it, the preset after the GGUF, the trailer last. Each
     * comparison is made so that it cannot overflow (every value is checked against size
     * before it is added to). */
    uint64_t body = size - BUNDLE_TRAILER;
    int ok = b->exe_size == elf_end && b->gguf_offset % BUNDLE_ALIGN == 0 &&
             b->gguf_offset >= elf_end + BUNDLE_STAMP && b->gguf_offset <= body &&
             b->gguf_size <= body - b->gguf_offset && b->gguf_size >= 24 &&
             b->preset_offset >= b->gguf_offset + b->gguf_size && b->preset_offset <= body &&
             b->preset_size == body - b->preset_offset && b->preset_size <= BUNDLE_MAX_PRESET &&
             b->header_size <= b->gguf_size && is_hex64(b->weights_sha) && is_hex64(b->meta_sha);
    if (!ok)
        return err_set(e, ERR_BAD_MODEL,
                       "the bundle's trailer is damaged (its offsets and sizes "
                       "do not describe this file)");
    return 0;
}

int bundle_open(const char *path, int *fd, struct bundle *b, struct err *e)
{
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    int rc = bundle_locate(f, b, e);
    if (rc) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

static int copy_range(int in, int out, uint64_t off, uint64_t n, struct sha256_state *h,
                      void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx);

/* Hashes n bytes of fd at off into s. */
static int hash_range(int fd, struct sha256_state *s, uint64_t off, uint64_t n)
{
    return copy_range(fd, -1, off, n, s, NULL, NULL);
}

/* The meta digest of a layout: stamp, trailer fields, GGUF header, preset. */
static int meta_digest(int fd, const struct bundle *b, char hex[65])
{
    unsigned char s[BUNDLE_STAMP], t[BUNDLE_TRAILER];
    stamp_encode(b->file_size, s);
    trailer_encode(b, t);
    struct sha256_state *h = sha256_begin();
    sha256_update(h, s, sizeof s);
    sha256_update(h, t, TRAILER_HASHED);
    if (hash_range(fd, h, b->gguf_offset, b->header_size) ||
        hash_range(fd, h, b->preset_offset, b->preset_size)) {
        sha256_abort(h);
        return -1;
    }
    sha256_final_hex(h, hex);
    return 0;
}

int bundle_check_meta(int fd, const struct bundle *b, struct err *e)
{
    char hex[65];
    if (meta_digest(fd, b, hex))
        return err_set(e, ERR_IO, "reading the bundle: %s", strerror(errno));
    if (memcmp(hex, b->meta_sha, 64) != 0)
        return err_set(e, ERR_BAD_MODEL,
                       "the bundle was modified or is corrupted: the SHA-256 of its header and "
                       "preset does not match its trailer");
    return 0;
}

int bundle_check_weights(int fd, const struct bundle *b, struct err *e)
{
    struct sha256_state *h = sha256_begin();
    if (hash_range(fd, h, b->gguf_offset, b->gguf_size)) {
        sha256_abort(h);
        return err_set(e, ERR_IO, "reading the bundle: %s", strerror(errno));
    }
    char hex[65];
    sha256_final_hex(h, hex);
    if (memcmp(hex, b->weights_sha, 64) != 0)
        return err_set(e, ERR_BAD_MODEL,
                       "the bundle's model was modified or is corrupted: the SHA-256 of its "
                       "weights is %.12s..., the trailer says %.12s...",
                       hex, b->weights_sha);
    return 0;
}

int bundle_read_preset(int fd, const struct bundle *b, char **out, struct err *e)
{
    char *text = xmalloc((size_t)b->preset_size + 1);
    if (b->preset_size && pread_all(fd, text, (size_t)b->preset_size, b->preset_offset)) {
        free(text);
        return err_set(e, ERR_IO, "reading the bundle's preset: %s", strerror(errno));
    }
    text[b->preset_size] = '\0';
    *out = text;
    return 0;
}

/* ---- writing ---- */

/* Copies n bytes of in from off to out (none when out < 0), hashing them into h when h is not
 * NULL. */
static int copy_range(int in, int out, uint64_t off, uint64_t n, struct sha256_state *h,
                      void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
    enum { CHUNK = 1 << 20 };
    char *buf = xmalloc(CHUNK);
    uint64_t done = 0;
    int rc = 0;
    while (done < n) {
        size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        if (pread_all(in, buf, k, off + done)) {
            rc = -1;
            break;
        }
        if (h)
            sha256_update(h, buf, k);
        if (out >= 0 && write_all(out, buf, k)) {
            rc = -2;
            break;
        }
        done += k;
        if (progress)
            progress(ctx, done, n);
    }
    free(buf);
    return rc;
}

static int pad_to(int out, uint64_t *pos, uint64_t align)
{
    static const char zeros[4096];
    while (*pos % align) {
        uint64_t k = align - *pos % align;
        if (k > sizeof zeros)
            k = sizeof zeros;
        if (write_all(out, zeros, (size_t)k))
            return -1;
        *pos += k;
    }
    return 0;
}

int bundle_write(const char *exe, const char *gguf, const char *preset, size_t preset_len,
                 const char *out, void (*progress)(void *ctx, uint64_t done, uint64_t total),
                 void *ctx, struct bundle *b, struct err *e)
{
    if (preset_len > BUNDLE_MAX_PRESET)
        return err_set(e, ERR_TOO_LARGE, "the preset is larger than %u bytes", BUNDLE_MAX_PRESET);
    struct mfile mf;
    int rc = mfile_open(gguf, &mf, e);
    if (rc)
        return rc;
    /* A bundle's model can be bundled again: its GGUF is copied from where it is. */
    uint64_t gguf_base = mf.base;
    uint64_t header_size = mf.data_offset < mf.size ? mf.data_offset : mf.size;
    uint64_t gguf_size = mf.size;
    mfile_close(&mf);

    int fx = -1, fg = -1, fo = -1;
    char *tmp = NULL;
    memset(b, 0, sizeof *b);
    fx = open(exe, O_RDONLY | O_CLOEXEC);
    if (fx < 0) {
        rc = err_set(e, ERR_IO, "%s: %s", exe, strerror(errno));
        goto out;
    }
    struct stat st;
    uint64_t exe_size;
    if (fstat(fx, &st) || bundle_elf_end(fx, (uint64_t)st.st_size, &exe_size)) {
        rc = err_set(e, ERR_BAD_REQUEST, "%s is not an ELF executable hearth can bundle", exe);
        goto out;
    }
    fg = open(gguf, O_RDONLY | O_CLOEXEC);
    if (fg < 0) {
        rc = err_set(e, ERR_IO, "%s: %s", gguf, strerror(errno));
        goto out;
    }
    size_t tl = strlen(out) + 32;
    tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp-%d", out, (int)getpid());
    fo = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fo < 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    b->exe_size = exe_size;
    b->gguf_offset = (exe_size + BUNDLE_STAMP + BUNDLE_ALIGN - 1) / BUNDLE_ALIGN * BUNDLE_ALIGN;
    b->gguf_size = gguf_size;
    b->preset_offset = b->gguf_offset + gguf_size;
    b->preset_size = preset_len;
    b->header_size = header_size;
    b->file_size = b->preset_offset + preset_len + BUNDLE_TRAILER;
    unsigned char s[BUNDLE_STAMP];
    stamp_encode(b->file_size, s);
    uint64_t pos = exe_size + BUNDLE_STAMP;
    struct sha256_state *h = sha256_begin();
    int crc = copy_range(fx, fo, 0, exe_size, NULL, NULL, NULL);
    if (!crc)
        crc = write_all(fo, s, sizeof s) ? -2 : 0;
    if (!crc)
        crc = pad_to(fo, &pos, BUNDLE_ALIGN) ? -2 : 0;
    if (!crc)
        crc = copy_range(fg, fo, gguf_base, gguf_size, h, progress, ctx);
    if (crc) {
        sha256_abort(h);
        rc = crc == -1 ? err_set(e, ERR_IO, "reading: %s", strerror(errno))
                       : err_set(e, ERR_IO, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    sha256_final_hex(h, b->weights_sha);
    if (write_all(fo, preset, preset_len)) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    /* The meta digest reads back what was written: the header and preset as they are in the
     * output, so a write that went wrong shows at the first start. */
    int fr = open(tmp, O_RDONLY | O_CLOEXEC);
    int mrc = fr < 0 ? -1 : meta_digest(fr, b, b->meta_sha);
    if (fr >= 0)
        close(fr);
    unsigned char t[BUNDLE_TRAILER];
    trailer_encode(b, t);
    if (mrc || write_all(fo, t, sizeof t) || fsync(fo) != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    if (close(fo) != 0) {
        fo = -1;
        rc = err_set(e, ERR_IO, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    fo = -1;
    if (rename(tmp, out) != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
out:
    if (fo >= 0)
        close(fo);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (fx >= 0)
        close(fx);
    if (fg >= 0)
        close(fg);
    return rc;
}
