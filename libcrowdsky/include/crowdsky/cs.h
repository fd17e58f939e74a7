/* cs.h - umbrella header of libcrowdsky core. */
#ifndef CROWDSKY_CS_H
#define CROWDSKY_CS_H

#include "err.h"
#include "alloc.h"
#include "buf.h"
#include "str.h"
#include "log.h"
#include "rand.h"
#include "config.h"

#endif
