/* A bundle's layout (src/engine/bundle.c) as an executable reads its own file at start, and
 * mfile opening the GGUF inside it: whatever the bytes after the ELF image, an error or a
 * bounded answer, never a read outside the file or a crash. The input goes into a memfd opened
 * by path. Seeds (corpus/bundle/) are a minimal ELF header with a stamp, a GGUF, a preset and a
 * trailer, written by tests/fuzz/make_bundle_seeds.py. */
#include "engine/bundle.h"
#include "engine/mfile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    struct err e = {0};
    struct bundle b;
    int bfd;
    if (bundle_open(path, &bfd, &b, &e) == 0) {
        char *text = NULL;
        bundle_check_meta(bfd, &b, &e);
        if (bundle_read_preset(bfd, &b, &text, &e) == 0)
            free(text);
        bundle_check_weights(bfd, &b, &e);
        close(bfd);
    }
    struct mfile mf;
    if (mfile_open(path, &mf, &e) == 0)
        mfile_close(&mf);
    return 0;
}
