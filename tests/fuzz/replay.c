/* A main for the fuzz targets in builds without libFuzzer: runs LLVMFuzzerTestOneInput once on
 * every file of the folders (or files) given, so `make test` replays the seed and regression
 * corpora under the plain and ASan builds. */
#include "base/util.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = xmalloc(cap);
    size_t got;
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            data = xrealloc(data, cap *= 2);
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0)
            continue; /* a corpus folder that does not exist yet is empty */
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(argv[i]);
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d)
            continue;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') {
                names = xrealloc(names, (n + 1) * sizeof *names);
                names[n++] = xstrdup(de->d_name);
            }
        closedir(d);
        if (n)
            qsort(names, n, sizeof *names, cmp);
        for (size_t j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]);
            bad |= run_file(path);
            files++;
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %d inputs\n", files);
    return bad;
}
