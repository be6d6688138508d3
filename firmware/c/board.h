/* What the C example's startup and main share: semihosting output and exit,
   the stack paint word and the SysTick wrap counter. */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

/* The word the free stack region is painted with at reset. */
#define STACK_PAINT 0xCCCCCCCCu

/* SysTick wraps since start (the handler counts them). */
extern volatile uint32_t systick_wraps;

/* Writes a NUL-terminated string to the host's stdout. */
void semihost_write(const char *s);

/* Exits QEMU with status 0 when ok, else 1. */
__attribute__((noreturn)) void semihost_exit(int ok);

#endif
