#ifndef HAZMON_CMOSQUITTO_SHIM_H
#define HAZMON_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <poll.h>
#include <sys/eventfd.h>
#endif
