/* Compile-time limits of the hartvisor guest SDK. Shared by C and assembly. */
#ifndef HARTVISOR_SDK_CONFIG_H
#define HARTVISOR_SDK_CONFIG_H

/* Harts the SDK can run: ids 0 .. SDK_MAX_HARTS-1. A hart with a larger id parks in
 * start.S and is never started by the SDK. Must be a power of two (the paravirtual lock
 * indexes its waiter slots by ticket % SDK_MAX_HARTS). */
#ifndef SDK_MAX_HARTS
#define SDK_MAX_HARTS 64
#endif

/* Stack per hart, bytes (a multiple of 16). */
#ifndef SDK_STACK_SIZE
#define SDK_STACK_SIZE 8192
#endif

#endif
