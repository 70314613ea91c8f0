/* Bundles: one executable file holding hearth and a model (`hearth bundle`).
 *
 * A bundle is the hearth executable with a model appended, laid out so that libllama maps the
 * weights straight from the executable:
 *
 *   [ hearth's ELF image            ]  exe_size bytes, as the linker wrote it
 *   [ stamp: 64 bytes               ]  "HEARTH-BUNDLE", version, the bundle's total size
 *   [ zeros up to BUNDLE_ALIGN      ]
 *   [ the model's GGUF, unchanged   ]  at gguf_offset, a multiple of BUNDLE_ALIGN (64 KiB: a
 *                                      page on every Linux, and at least any GGUF alignment,
 *                                      so the data section stays aligned in the file)
 *   [ the preset: INI text          ]  one section, preset.h's format
 *   [ trailer: BUNDLE_TRAILER bytes ]  offsets, sizes, two SHA-256 digests, magic at the end
 *
 * The stamp sits where the ELF image ends (found from the ELF headers), so a bundle that lost
 * its end (a truncated copy) is still known as a bundle and refused, rather than run as plain
 * hearth. The trailer's "meta" digest covers the stamp, the trailer's own fields (the weights
 * digest included), the GGUF's header (metadata and tensor table: up to its data section) and
 * the preset: it is checked at every start (milliseconds). The "weights" digest covers the
 * whole GGUF; hashing gigabytes would cost seconds and read the whole file where libllama
 * maps only what it touches, so it is checked on request (`./bundle --verify`).
 *
 * All numbers are little-endian; digests are lowercase hex. Functions are thread-compatible.
 */
#ifndef HEARTH_ENGINE_BUNDLE_H
#define HEARTH_ENGINE_BUNDLE_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

#define BUNDLE_VERSION    1
#define BUNDLE_ALIGN      65536u
#define BUNDLE_STAMP      64u
#define BUNDLE_TRAILER    192u
#define BUNDLE_MAX_PRESET (4u << 20) /* PRESET_MAX_FILE */

struct bundle {
    uint64_t file_size;
    uint64_t exe_size; /* the ELF image; the stamp follows it */
    uint64_t gguf_offset, gguf_size;
    uint64_t preset_offset, preset_size;
    uint64_t header_size; /* bytes of the GGUF covered by the meta digest */
    char weights_sha[65], meta_sha[65];
};

/* Where fd's ELF image ends (the largest end of its program headers, section headers and
 * section table). Returns 0, or 1 when fd is not a 64-bit ELF file this reads. */
int bundle_elf_end(int fd, uint64_t file_size, uint64_t *end);

/* Reads the layout of the bundle open on fd. Returns 0 with *b filled when fd is a bundle whose
 * stamp and trailer agree with each other and with the file's size; 1 when fd is no bundle
 * (not an ELF file, or nothing appended to its image); ERR_BAD_MODEL with a message for a
 * damaged one (truncated, a stamp or trailer that does not read). Hashes nothing. */
int bundle_locate(int fd, struct bundle *b, struct err *e);

/* Checks the meta digest (stamp, trailer fields, GGUF header, preset). 0 or ERR_BAD_MODEL
 * ("was modified or is corrupted"), ERR_IO. */
int bundle_check_meta(int fd, const struct bundle *b, struct err *e);

/* Hashes the whole GGUF against the weights digest. 0, ERR_BAD_MODEL or ERR_IO. */
int bundle_check_weights(int fd, const struct bundle *b, struct err *e);

/* The preset text, NUL-terminated, in *out (malloc'd, the caller frees it). */
int bundle_read_preset(int fd, const struct bundle *b, char **out, struct err *e);

/* Opens path and locates its bundle: bundle_locate's results; on 0 the fd stays open in *fd
 * (the caller closes it), otherwise it is closed. ERR_IO when path cannot be opened. */
int bundle_open(const char *path, int *fd, struct bundle *b, struct err *e);

/* Writes a bundle to out: the ELF image of exe (a bundle's image only, when exe is one), the
 * GGUF at gguf (checked by mfile_open first; the model of a bundle when gguf is one) and the
 * preset text. The file is written beside
 * out under a temporary name, made executable and renamed over out, so a failure leaves no
 * half-written bundle. progress (may be NULL) is called with the bytes of the GGUF copied so
 * far. Returns 0 with *b describing the result, or an error naming the file at fault. */
int bundle_write(const char *exe, const char *gguf, const char *preset, size_t preset_len,
                 const char *out, void (*progress)(void *ctx, uint64_t done, uint64_t total),
                 void *ctx, struct bundle *b, struct err *e);

#endif
