/*
 * quantmcu.h: the C ABI of the quantmcu runtime (libquantmcu_c.a).
 *
 * A plan (the bytes `quantmcu plan`/`compile` write, or quantmcu_plan.c from
 * `quantmcu export --c`) is checked once with qmcu_plan_init, then each
 * inference is one qmcu_run into caller-provided buffers. The library never
 * allocates, never panics and never keeps a pointer past a call except the
 * plan bytes a handle refers to. Every function returns a qmcu_status;
 * qmcu_status_name/qmcu_status_message turn it into text.
 *
 * Units: lengths are in elements of the pointed-to type (bytes for the
 * int8/uint8 buffers, 32-bit words for scratch). A NULL pointer is accepted
 * only with a length of 0 (and never for the plan or the handle).
 *
 * Alignment: plan bytes 4-byte aligned, a whole number of 4-byte words
 * (else QMCU_ERR_PLAN_MISALIGNED); scratch 4-byte aligned (int32_t); the
 * handle 8-byte aligned (its uint64_t storage); arena, input, output and
 * widths need no alignment.
 */
#ifndef QUANTMCU_H
#define QUANTMCU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result of every qmcu_* function. */
typedef enum qmcu_status {
    QMCU_OK = 0,                       /* success */
    QMCU_ERR_NULL_POINTER = 1,         /* a required pointer is NULL */
    QMCU_ERR_PLAN_MISALIGNED = 2,      /* plan not 4-byte aligned / not whole words */
    QMCU_ERR_PLAN_BAD_MAGIC = 3,       /* first word is not the plan magic */
    QMCU_ERR_PLAN_BAD_VERSION = 4,     /* format version this runtime does not read */
    QMCU_ERR_PLAN_TRUNCATED = 5,       /* a field lies past the plan's end */
    QMCU_ERR_PLAN_INVALID = 6,         /* any other failed check of the plan */
    QMCU_ERR_PLAN_NOT_INITIALISED = 7, /* handle not filled by qmcu_plan_init */
    QMCU_ERR_ARENA_TOO_SMALL = 8,      /* arena_len < arena_bytes */
    QMCU_ERR_INPUT_SIZE = 9,           /* input_len != the plan's input_len */
    QMCU_ERR_OUTPUT_SIZE = 10,         /* output_len != the plan's output_len */
    QMCU_ERR_WIDTHS_SIZE = 11          /* widths_len neither 0 nor n_tiles * n_maps */
} qmcu_status;

/* What a checked plan asks of its caller. */
typedef struct qmcu_plan_info {
    uint32_t arena_bytes;   /* bytes of arena one inference needs */
    uint32_t scratch_words; /* int32_t words of scratch the fast kernel paths use */
    uint32_t input_len;     /* bytes of int8 input one inference reads */
    uint32_t output_len;    /* bytes of int8 output one inference writes */
    uint32_t n_tiles;       /* tiles of the plan (rows of the widths table) */
    uint32_t n_maps;        /* mixed-precision maps (columns of the widths table) */
} qmcu_plan_info;

/* uint64_t words of a plan handle. */
#define QMCU_PLAN_WORDS 64

/* A parsed plan: storage the caller owns (static, stack or heap). */
typedef struct qmcu_plan {
    uint64_t opaque[QMCU_PLAN_WORDS];
} qmcu_plan;

/*
 * Parses and checks the plan_len bytes at plan. When info is not NULL it
 * receives the plan's buffer sizes. Nothing is kept.
 */
qmcu_status qmcu_plan_check(const uint8_t *plan, size_t plan_len, qmcu_plan_info *info);

/*
 * qmcu_plan_check, keeping the parsed plan in *handle for qmcu_run. The plan
 * bytes must stay in place and unchanged while the handle is used (a const
 * array in flash does). On an error the handle is marked not initialised.
 */
qmcu_status qmcu_plan_init(qmcu_plan *handle, const uint8_t *plan, size_t plan_len,
                           qmcu_plan_info *info);

/*
 * Runs one inference of the plan in *handle: reads input (input_len int8
 * bytes, the model's quantized input in NHWC order), writes output
 * (output_len int8 bytes) through arena (at least arena_bytes bytes; its
 * contents on entry do not matter). scratch may be NULL with
 * scratch_words 0 (the kernels then take slower paths, same results) or
 * hold up to the plan's scratch_words words. widths may be NULL with
 * widths_len 0, else it holds n_tiles * n_maps bytes and entry
 * tile * n_maps + map receives the bits that tile stored the map at (0 when
 * the tile did not write it). No two buffers may overlap.
 */
qmcu_status qmcu_run(const qmcu_plan *handle, int8_t *arena, size_t arena_len, int32_t *scratch,
                     size_t scratch_words, const int8_t *input, size_t input_len, int8_t *output,
                     size_t output_len, uint8_t *widths, size_t widths_len);

/* The enumerator name of a status ("QMCU_OK", ...): a static NUL-terminated string. */
const char *qmcu_status_name(int code);

/* A static NUL-terminated sentence saying what a status means. */
const char *qmcu_status_message(int code);

#ifdef __cplusplus
}
#endif

#endif /* QUANTMCU_H */
