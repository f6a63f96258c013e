/* The hartvisor guest SDK: everything in one include. See guests/README.md. */
#ifndef HARTVISOR_SDK_H
#define HARTVISOR_SDK_H

#include "sdk_config.h"
#include "csr.h"
#include "sbi.h"
#include "hart.h"
#include "bootargs.h"
#include "console.h"
#include "spinlock.h"
#include "hotplug.h"
#include "sdk_string.h"

#endif
