/*
 * Startup for the C example on mps2-an386 (Cortex-M4F): the vector table,
 * a reset handler that copies .data, zeroes .bss, paints the free stack
 * region (for stack_peak) and enables the FPU before main, and the SysTick
 * and HardFault handlers.
 */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern int main(void);

volatile uint32_t systick_wraps;

void systick_handler(void) { systick_wraps++; }

void hardfault_handler(void) {
    semihost_write("hardfault\nend error\n");
    semihost_exit(0);
}

static void default_handler(void) {
    semihost_write("unexpected exception\nend error\n");
    semihost_exit(0);
}

void reset_handler(void);

/* Cortex-M4 exceptions 0..15 (the example enables no device interrupts). */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, reset_handler, default_handler, hardfault_handler,
    default_handler, default_handler, default_handler, 0, 0, 0, 0,
    default_handler, default_handler, 0, default_handler, systick_handler,
};

void reset_handler(void) {
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    /* Paint the stack region below the current frame (64 bytes kept). */
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__bss_end; p < sp - 16; p++) *p = STACK_PAINT;
    /* CPACR: full access to CP10 and CP11 (the FPU), as the code is hard-float. */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
    semihost_exit(main() == 0);
}
