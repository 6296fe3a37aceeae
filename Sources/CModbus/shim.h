#ifndef HAZMON_CMODBUS_SHIM_H
#define HAZMON_CMODBUS_SHIM_H
#include <modbus/modbus.h>
#endif
