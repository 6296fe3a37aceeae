#ifndef HAZMON_CMOSQUITTO_SHIM_H
#define HAZMON_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
