/*
 * The C example: runs the plan of a `quantmcu export --c` directory through
 * libquantmcu_c.a on a Cortex-M4F and reports over semihosting in the Rust
 * firmware's line format (parsed by `quantmcu mcu-run --c`):
 *
 *   quantmcu-firmware arena=A scratch=S inputs=N input_len=I output_len=O stats=T
 *   calibration instructions=K ticks=C
 *   parse ticks=C
 *   inference I ticks=C match=0|1 out=HEX widths=HEX
 *   stack_peak=B
 *   end ok|mismatch|error
 *
 * Ticks are SysTick counts of the processor clock (reload 0xFFFFFF, the
 * handler counts the wraps); stack_peak is the bytes of the painted stack
 * region overwritten below its top.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "quantmcu.h"
#include "quantmcu_plan.h"

/* The plan's arena (its peak SRAM) and the kernels' scratch, in .bss. */
static int8_t arena[QUANTMCU_ARENA_BYTES];
static int32_t scratch[QUANTMCU_SCRATCH_WORDS > 0 ? QUANTMCU_SCRATCH_WORDS : 1];
static qmcu_plan plan;

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define RELOAD 0x00FFFFFFu

/* SysTick ticks since it was started. */
static uint64_t now(void) {
    for (;;) {
        uint32_t w = systick_wraps;
        uint32_t v = SYST_CVR;
        if (systick_wraps == w) return (uint64_t)w * (RELOAD + 1ull) + (RELOAD - v);
    }
}

/* Executes exactly 2 * n instructions (n >= 1). */
__attribute__((noinline)) static void spin(uint32_t n) {
    __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n));
}

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int tty = -1;

void semihost_write(const char *s) {
    if (tty < 0) {
        const uint32_t open[3] = {(uint32_t)":tt", 4 /* "w" */, 3};
        tty = semihost(0x01 /* SYS_OPEN */, open);
    }
    const uint32_t write[3] = {(uint32_t)tty, (uint32_t)s, (uint32_t)strlen(s)};
    semihost(0x05 /* SYS_WRITE */, write);
}

void semihost_exit(int ok) {
    /* ADP_Stopped_ApplicationExit, else ADP_Stopped_RunTimeErrorUnknown. */
    semihost(0x18 /* SYS_EXIT */, (const void *)(ok ? 0x20026u : 0x20023u));
    for (;;) __asm__ volatile("wfi");
}

/* One output line, flushed at each '\n'. */
static char line[256];
static unsigned len;

static void put(const char *s) {
    for (; *s; s++) {
        if (len == sizeof line - 1) {
            line[len] = 0;
            semihost_write(line);
            len = 0;
        }
        line[len++] = *s;
        if (*s == '\n') {
            line[len] = 0;
            semihost_write(line);
            len = 0;
        }
    }
}

static void put_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do buf[--i] = (char)('0' + v % 10); while (v /= 10);
    put(buf + i);
}

static void put_hex(const uint8_t *b, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char s[3] = {digits[b[i] >> 4], digits[b[i] & 15], 0};
        put(s);
    }
}

static void kv(const char *key, uint64_t v) {
    put(key);
    put_u64(v);
}

static int fail(const char *what, qmcu_status st) {
    put(what);
    put(" error=");
    put(qmcu_status_message(st));
    put("\nend error\n");
    return 1;
}

/* Bytes of the painted stack region overwritten below its top. */
static uint32_t stack_peak(void) {
    extern uint32_t __bss_end, __stack_top;
    const volatile uint32_t *p = &__bss_end;
    while (p < &__stack_top && *p == STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

int main(void) {
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7; /* processor clock, interrupt, enable */

    kv("quantmcu-firmware arena=", QUANTMCU_ARENA_BYTES);
    kv(" scratch=", QUANTMCU_SCRATCH_WORDS);
    kv(" inputs=", QUANTMCU_N_INPUTS);
    kv(" input_len=", QUANTMCU_INPUT_LEN);
    kv(" output_len=", QUANTMCU_OUTPUT_LEN);
    kv(" stats=", QUANTMCU_STATS_LEN);
    put("\n");
    const uint32_t n = 1000000;
    uint64_t t0 = now(), t1 = now();
    spin(n);
    uint64_t t2 = now();
    kv("calibration instructions=", 2ull * n);
    kv(" ticks=", (t2 - t1) - (t1 - t0));
    put("\n");

    qmcu_plan_info info;
    t0 = now();
    qmcu_status st = qmcu_plan_init(&plan, (const uint8_t *)quantmcu_plan_data, QUANTMCU_PLAN_BYTES, &info);
    t1 = now();
    if (st != QMCU_OK) return fail("parse", st);
    kv("parse ticks=", t1 - t0);
    put("\n");

    int all_match = 1;
    for (uint32_t i = 0; i < QUANTMCU_N_INPUTS; i++) {
        int8_t out[QUANTMCU_OUTPUT_LEN];
        uint8_t widths[QUANTMCU_STATS_LEN > 0 ? QUANTMCU_STATS_LEN : 1];
        t0 = now();
        st = qmcu_run(&plan, arena, sizeof arena, scratch, QUANTMCU_SCRATCH_WORDS,
                      quantmcu_test_inputs + i * QUANTMCU_INPUT_LEN, QUANTMCU_INPUT_LEN, out, sizeof out,
                      widths, QUANTMCU_STATS_LEN);
        t1 = now();
        if (st != QMCU_OK) {
            kv("inference ", i);
            return fail("", st);
        }
        int match = memcmp(out, quantmcu_test_expected + i * QUANTMCU_OUTPUT_LEN, sizeof out) == 0;
        all_match &= match;
        kv("inference ", i);
        kv(" ticks=", t1 - t0);
        kv(" match=", (uint64_t)match);
        put(" out=");
        put_hex((const uint8_t *)out, sizeof out);
        put(" widths=");
        put_hex(widths, QUANTMCU_STATS_LEN);
        put("\n");
    }
    kv("stack_peak=", stack_peak());
    put("\n");
    put(all_match ? "end ok\n" : "end mismatch\n");
    return all_match ? 0 : 1;
}
