/* The bundle format (engine/bundle.h): a bundle written from a real model reads back and opens
 * as its GGUF; every field of a damaged trailer or stamp is refused with ERR_BAD_MODEL (never a
 * read out of bounds: this runs under ASan in CI); files that are no bundle are told apart. */
#include "check.h"
#include "engine/bundle.h"
#include "engine/mfile.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/hearth-test-bundle.XXXXXX";

static int locate(const char *path, struct bundle *b, struct err *e)
{
    int fd;
    int rc = bundle_open(path, &fd, b, e);
    if (rc == 0)
        close(fd);
    return rc;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static void put_u64_at(const char *path, uint64_t off, uint64_t v)
{
    int fd = open(path, O_WRONLY);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    if (fd >= 0) {
        if (pwrite(fd, b, 8, (off_t)off) != 8)
            fprintf(stderr, "pwrite failed\n");
        close(fd);
    }
}

int main(void)
{
    const char *models = getenv("MODELS");
    char model[512], exe[4096], out[600], bad[600];
    snprintf(model, sizeof model, "%s/stories260K.gguf", models ? models : "../shared/models");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(out, sizeof out, "%s/b", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);

    /* No bundle: this test program itself (an ELF with nothing appended), the model (no ELF),
     * an ELF with something else appended. */
    struct bundle b;
    struct err e = {0};
    CHECK(locate(exe, &b, &e) == 1);
    CHECK(locate(model, &b, &e) == 1);
    copy_file(exe, bad);
    FILE *f = fopen(bad, "ab");
    fputs("not a bundle stamp, just bytes someone appended", f);
    fclose(f);
    CHECK(locate(bad, &b, &e) == 1);

    /* A bundle reads back, and mfile opens it as the GGUF at its offset. */
    const char *preset = "[m]\ntemperature = 0\n";
    CHECK(bundle_write(exe, model, preset, strlen(preset), out, NULL, NULL, &b, &e) == 0);
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 0111));
    struct stat ms;
    stat(model, &ms);
    CHECK(b.gguf_size == (uint64_t)ms.st_size);
    CHECK(b.gguf_offset % BUNDLE_ALIGN == 0);
    struct bundle r;
    int fd;
    CHECK(bundle_open(out, &fd, &r, &e) == 0);
    CHECK(r.gguf_offset == b.gguf_offset && r.preset_size == strlen(preset));
    CHECK(!memcmp(r.weights_sha, b.weights_sha, 64));
    CHECK(bundle_check_meta(fd, &r, &e) == 0);
    CHECK(bundle_check_weights(fd, &r, &e) == 0);
    char *text = NULL;
    CHECK(bundle_read_preset(fd, &r, &text, &e) == 0);
    CHECK_STR(text, preset);
    free(text);
    close(fd);
    struct mfile mf;
    CHECK(mfile_open(out, &mf, &e) == 0);
    CHECK(mf.base == b.gguf_offset && mf.size == b.gguf_size && mf.n_tensors > 0);
    mfile_close(&mf);

    /* Every trailer field set to values that overflow or point outside the file. */
    uint64_t t = (uint64_t)st.st_size - BUNDLE_TRAILER;
    const struct {
        uint64_t off, value;
    } breaks[] = {
        {8, 0},                                     /* exe_size */
        {16, UINT64_MAX - 4095},                    /* gguf_offset near the top */
        {16, b.gguf_offset + 1},                    /* gguf_offset unaligned */
        {24, UINT64_MAX},                           /* gguf_size */
        {24, b.gguf_size + 65536},                  /* past the preset */
        {32, 0},                                    /* preset_offset before the GGUF */
        {32, UINT64_MAX},                           /* preset_offset */
        {40, UINT64_MAX - 10},                      /* preset_size */
        {48, b.gguf_size + 1},                      /* header_size past the GGUF */
        {0, ((uint64_t)BUNDLE_TRAILER << 32) | 99}, /* version */
    };
    for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
        copy_file(out, bad);
        put_u64_at(bad, t + breaks[i].off, breaks[i].value);
        memset(&e, 0, sizeof e);
        CHECK(locate(bad, &r, &e) == ERR_BAD_MODEL);
        CHECK(strstr(e.msg, "damaged") != NULL);
        CHECK(mfile_open(bad, &mf, &e) == ERR_BAD_MODEL);
    }
    /* The stamp's size: a truncated file, and one with bytes added at the end. */
    copy_file(out, bad);
    CHECK(truncate(bad, st.st_size - 1) == 0);
    CHECK(locate(bad, &r, &e) == ERR_BAD_MODEL && strstr(e.msg, "truncated"));
    CHECK(truncate(bad, (off_t)b.exe_size + 10) == 0); /* inside the stamp */
    CHECK(locate(bad, &r, &e) == ERR_BAD_MODEL && strstr(e.msg, "truncated"));
    copy_file(out, bad);
    f = fopen(bad, "ab");
    fputc('x', f);
    fclose(f);
    CHECK(locate(bad, &r, &e) == ERR_BAD_MODEL && strstr(e.msg, "longer than written"));
    /* A field changed to a value that still describes the file: only the meta digest sees it
     * (header_size one byte shorter). */
    copy_file(out, bad);
    put_u64_at(bad, t + 48, b.header_size - 1);
    CHECK(bundle_open(bad, &fd, &r, &e) == 0);
    CHECK(bundle_check_meta(fd, &r, &e) == ERR_BAD_MODEL && strstr(e.msg, "modified"));
    close(fd);

    /* Writing: a file that is not a GGUF, an executable that is not ELF, an unwritable place;
     * no temporary file stays behind. */
    CHECK(bundle_write(exe, exe, "", 0, bad, NULL, NULL, &r, &e) == ERR_BAD_MODEL);
    CHECK(bundle_write(model, model, "", 0, bad, NULL, NULL, &r, &e) == ERR_BAD_REQUEST);
    CHECK(bundle_write(exe, model, "", 0, "/nonexistent/dir/b", NULL, NULL, &r, &e) == ERR_IO);
    CHECK(strstr(e.msg, "cannot write /nonexistent/dir/b") != NULL);
    /* A bundle's model bundles again: the same GGUF, the same digest. */
    snprintf(bad, sizeof bad, "%s/again", dir);
    CHECK(bundle_write(out, out, "", 0, bad, NULL, NULL, &r, &e) == 0);
    CHECK(!memcmp(r.weights_sha, b.weights_sha, 64));
    CHECK(r.exe_size == b.exe_size);

    /* The fuzz seeds, written by a Python script from bundle.h's description alone, read as
     * bundles whose digests match: the format is what the header says. */
    char seed[1024];
    snprintf(seed, sizeof seed, "%s", __FILE__);
    char *slash = strrchr(seed, '/');
    if (slash) {
        snprintf(slash, sizeof seed - (size_t)(slash - seed),
                 "/../fuzz/corpus/bundle/alignment_0.bundle");
        int src = bundle_open(seed, &fd, &r, &e);
        CHECK(src == 0);
        if (src == 0) {
            CHECK(bundle_check_meta(fd, &r, &e) == 0);
            CHECK(bundle_check_weights(fd, &r, &e) == 0);
            CHECK(r.exe_size == 64 && r.gguf_offset == BUNDLE_ALIGN);
            close(fd);
        }
    }

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done("test_bundle");
}
