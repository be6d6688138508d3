/*
 * Exercises every function of quantmcu.h against an export directory
 * (plan.qmcu, inputs.bin, expected.bin, widths.bin as `quantmcu export`
 * writes them): each test input must give the host's output bytes and
 * widths, and corrupted plans, wrong buffer sizes, NULL pointers and an
 * uninitialised handle must give their status codes. Prints "ok" and
 * exits 0 when every check holds; prints each failed check and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantmcu.h"

static int failures;

#define EXPECT(cond)                                                   \
    do {                                                               \
        if (!(cond)) {                                                 \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
            failures++;                                                \
        }                                                              \
    } while (0)

/* The status code and its enumerator name must agree with the library. */
#define EXPECT_NAME(code) EXPECT(strcmp(qmcu_status_name(code), #code) == 0)

/* Reads a whole file into 8-byte aligned memory; *len receives its size. */
static void *slurp(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAILED cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint64_t *buf = calloc(*len / 8 + 2, 8);
    if (!buf || fread(buf, 1, *len, f) != *len) {
        printf("FAILED cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        printf("usage: %s EXPORT_DIR\n", argv[0]);
        return 2;
    }
    size_t plan_len, inputs_len, expected_len, widths_file_len;
    uint8_t *plan = slurp(argv[1], "plan.qmcu", &plan_len);
    int8_t *inputs = slurp(argv[1], "inputs.bin", &inputs_len);
    int8_t *expected = slurp(argv[1], "expected.bin", &expected_len);
    uint8_t *want_widths = slurp(argv[1], "widths.bin", &widths_file_len);

    EXPECT_NAME(QMCU_OK);
    EXPECT_NAME(QMCU_ERR_NULL_POINTER);
    EXPECT_NAME(QMCU_ERR_PLAN_MISALIGNED);
    EXPECT_NAME(QMCU_ERR_PLAN_BAD_MAGIC);
    EXPECT_NAME(QMCU_ERR_PLAN_BAD_VERSION);
    EXPECT_NAME(QMCU_ERR_PLAN_TRUNCATED);
    EXPECT_NAME(QMCU_ERR_PLAN_INVALID);
    EXPECT_NAME(QMCU_ERR_PLAN_NOT_INITIALISED);
    EXPECT_NAME(QMCU_ERR_ARENA_TOO_SMALL);
    EXPECT_NAME(QMCU_ERR_INPUT_SIZE);
    EXPECT_NAME(QMCU_ERR_OUTPUT_SIZE);
    EXPECT_NAME(QMCU_ERR_WIDTHS_SIZE);
    for (int code = QMCU_OK; code <= QMCU_ERR_WIDTHS_SIZE; code++) {
        EXPECT(strlen(qmcu_status_message(code)) > 0);
        EXPECT(strcmp(qmcu_status_message(code), qmcu_status_message(QMCU_ERR_WIDTHS_SIZE + 1)) != 0);
    }
    EXPECT(strcmp(qmcu_status_name(-1), qmcu_status_name(QMCU_ERR_WIDTHS_SIZE + 1)) == 0);

    qmcu_plan_info info;
    EXPECT(qmcu_plan_check(plan, plan_len, &info) == QMCU_OK);
    EXPECT(qmcu_plan_check(plan, plan_len, NULL) == QMCU_OK);
    static qmcu_plan handle;
    qmcu_plan_info info2;
    EXPECT(qmcu_plan_init(&handle, plan, plan_len, &info2) == QMCU_OK);
    EXPECT(memcmp(&info, &info2, sizeof info) == 0);
    size_t n_inputs = inputs_len / info.input_len;
    size_t widths_len = (size_t)info.n_tiles * info.n_maps;
    EXPECT(n_inputs > 0 && inputs_len == n_inputs * info.input_len);
    EXPECT(expected_len == n_inputs * info.output_len);
    EXPECT(widths_file_len == n_inputs * widths_len);

    int8_t *arena = malloc(info.arena_bytes);
    int32_t *scratch = malloc(4 * (size_t)info.scratch_words + 4);
    int8_t *out = malloc(info.output_len + 1);
    uint8_t *widths = malloc(widths_len + 1);
    for (size_t i = 0; i < n_inputs; i++) {
        const int8_t *x = inputs + i * info.input_len;
        /* With scratch and widths, then without either: same output. */
        memset(widths, 0xff, widths_len + 1);
        EXPECT(qmcu_run(&handle, arena, info.arena_bytes, scratch, info.scratch_words, x, info.input_len,
                        out, info.output_len, widths, widths_len) == QMCU_OK);
        EXPECT(memcmp(out, expected + i * info.output_len, info.output_len) == 0);
        EXPECT(memcmp(widths, want_widths + i * widths_len, widths_len) == 0);
        memset(out, 0, info.output_len);
        EXPECT(qmcu_run(&handle, arena, info.arena_bytes, NULL, 0, x, info.input_len, out, info.output_len,
                        NULL, 0) == QMCU_OK);
        EXPECT(memcmp(out, expected + i * info.output_len, info.output_len) == 0);
    }

    /* Buffers of the wrong size. */
    const int8_t *x = inputs;
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes - 1, scratch, info.scratch_words, x, info.input_len, out,
                    info.output_len, NULL, 0) == QMCU_ERR_ARENA_TOO_SMALL);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, scratch, info.scratch_words, x, info.input_len - 1, out,
                    info.output_len, NULL, 0) == QMCU_ERR_INPUT_SIZE);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, scratch, info.scratch_words, x, info.input_len, out,
                    info.output_len + 1, NULL, 0) == QMCU_ERR_OUTPUT_SIZE);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, scratch, info.scratch_words, x, info.input_len, out,
                    info.output_len, widths, widths_len + 1) == QMCU_ERR_WIDTHS_SIZE);

    /* NULL pointers. */
    EXPECT(qmcu_plan_check(NULL, plan_len, &info2) == QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_plan_init(NULL, plan, plan_len, &info2) == QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_plan_init(&handle, NULL, plan_len, &info2) == QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_run(NULL, arena, info.arena_bytes, NULL, 0, x, info.input_len, out, info.output_len, NULL, 0) ==
           QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_run(&handle, NULL, info.arena_bytes, NULL, 0, x, info.input_len, out, info.output_len, NULL, 0) ==
           QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, NULL, 0, NULL, info.input_len, out, info.output_len, NULL,
                    0) == QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, NULL, 0, x, info.input_len, NULL, info.output_len, NULL,
                    0) == QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, NULL, 5, x, info.input_len, out, info.output_len, NULL,
                    0) == QMCU_ERR_NULL_POINTER);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, NULL, 0, x, info.input_len, out, info.output_len, NULL,
                    widths_len + 1) == QMCU_ERR_NULL_POINTER);

    /* Corrupted plans; a failed init leaves the handle unusable. */
    uint8_t *bad = calloc(plan_len / 4 + 2, 4);
    memcpy(bad, plan, plan_len);
    bad[0] ^= 0x55;
    EXPECT(qmcu_plan_check(bad, plan_len, NULL) == QMCU_ERR_PLAN_BAD_MAGIC);
    EXPECT(qmcu_plan_init(&handle, bad, plan_len, NULL) == QMCU_ERR_PLAN_BAD_MAGIC);
    EXPECT(qmcu_run(&handle, arena, info.arena_bytes, NULL, 0, x, info.input_len, out, info.output_len, NULL, 0) ==
           QMCU_ERR_PLAN_NOT_INITIALISED);
    memcpy(bad, plan, plan_len);
    bad[4] ^= 0x7f; /* the version word */
    EXPECT(qmcu_plan_check(bad, plan_len, NULL) == QMCU_ERR_PLAN_BAD_VERSION);
    EXPECT(qmcu_plan_check(plan, 8, NULL) == QMCU_ERR_PLAN_TRUNCATED);
    EXPECT(qmcu_plan_check(plan, plan_len - 4, NULL) != QMCU_OK);
    EXPECT(qmcu_plan_check(plan, plan_len - 1, NULL) == QMCU_ERR_PLAN_MISALIGNED);
    memcpy(bad + 1, plan, plan_len);
    EXPECT(qmcu_plan_check(bad + 1, plan_len, NULL) == QMCU_ERR_PLAN_MISALIGNED);
    static qmcu_plan zeroed;
    EXPECT(qmcu_run(&zeroed, arena, info.arena_bytes, NULL, 0, x, info.input_len, out, info.output_len, NULL, 0) ==
           QMCU_ERR_PLAN_NOT_INITIALISED);

    if (failures) {
        printf("%d checks failed\n", failures);
        return 1;
    }
    printf("ok %zu inputs\n", n_inputs);
    return 0;
}
