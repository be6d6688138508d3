/*
 * Runs the test cases of a `quantmcu export --c` directory (compiled in:
 * quantmcu_plan.c) through the C ABI: the macros must match what
 * qmcu_plan_init reports and every output byte and width must equal the
 * host's. Prints "ok N" and exits 0, else prints the failure and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include "quantmcu.h"
#include "quantmcu_plan.h"

static int8_t arena[QUANTMCU_ARENA_BYTES];
static int32_t scratch[QUANTMCU_SCRATCH_WORDS + 1];
static qmcu_plan plan;

int main(void) {
    qmcu_plan_info info;
    qmcu_status st = qmcu_plan_init(&plan, (const uint8_t *)quantmcu_plan_data, QUANTMCU_PLAN_BYTES, &info);
    if (st != QMCU_OK) {
        printf("plan: %s\n", qmcu_status_message(st));
        return 1;
    }
    if (info.arena_bytes != QUANTMCU_ARENA_BYTES || info.scratch_words != QUANTMCU_SCRATCH_WORDS ||
        info.input_len != QUANTMCU_INPUT_LEN || info.output_len != QUANTMCU_OUTPUT_LEN ||
        info.n_tiles != QUANTMCU_N_TILES || info.n_maps != QUANTMCU_N_MAPS ||
        QUANTMCU_STATS_LEN != QUANTMCU_N_TILES * QUANTMCU_N_MAPS) {
        printf("the macros disagree with the plan\n");
        return 1;
    }
    for (unsigned i = 0; i < QUANTMCU_N_INPUTS; i++) {
        int8_t out[QUANTMCU_OUTPUT_LEN];
#if QUANTMCU_STATS_LEN > 0
        uint8_t widths[QUANTMCU_STATS_LEN];
        const size_t widths_len = QUANTMCU_STATS_LEN;
#else
        uint8_t *widths = NULL;
        const size_t widths_len = 0;
#endif
        st = qmcu_run(&plan, arena, sizeof arena, scratch, QUANTMCU_SCRATCH_WORDS,
                      quantmcu_test_inputs + i * QUANTMCU_INPUT_LEN, QUANTMCU_INPUT_LEN, out, sizeof out, widths,
                      widths_len);
        if (st != QMCU_OK) {
            printf("inference %u: %s\n", i, qmcu_status_message(st));
            return 1;
        }
        if (memcmp(out, quantmcu_test_expected + i * QUANTMCU_OUTPUT_LEN, sizeof out) != 0) {
            printf("inference %u: output differs from the host's\n", i);
            return 1;
        }
#if QUANTMCU_STATS_LEN > 0
        if (memcmp(widths, quantmcu_test_widths + i * QUANTMCU_STATS_LEN, QUANTMCU_STATS_LEN) != 0) {
            printf("inference %u: widths differ from the host's\n", i);
            return 1;
        }
#endif
    }
    printf("ok %u\n", (unsigned)QUANTMCU_N_INPUTS);
    return 0;
}
