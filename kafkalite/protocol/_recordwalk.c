/*
 * kafkalite.protocol._recordwalk: the C walk of a v2 batch's records.
 *
 * The fast path of kafkalite.protocol.record_validation.check_records: the same checks as its
 * pure-Python reference (check_records_reference), over the batch's record section read through
 * the buffer protocol without a copy. It answers only "valid, and this is the largest record
 * timestamp" or "not for me" (None): on any fault, or any input it cannot judge in 64-bit
 * arithmetic, the Python wrapper runs the reference, which raises the exception with its message
 * and record_errors. Faults are rare; the valid batch is what must be fast.
 *
 * Plain CPython C API, no third-party libraries.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define MAX_VARINT_BYTES 5
#define MAX_VARLONG_BYTES 10
/* attributes (1) + the smallest timestamp delta, offset delta, key length, value length and header count */
#define MIN_RECORD_BODY 6

typedef struct {
    const unsigned char *buf;
    Py_ssize_t position;
} Cursor;

/*
 * A zigzag varint of at most `max_bytes` bytes before `end`, as the reference's decode_varint reads
 * it: MAX_VARINT_BYTES (up to 35 bits) for lengths, deltas and counts, MAX_VARLONG_BYTES for the
 * timestamp delta, whose encoded value must fit 64 bits (the reference refuses one that does not).
 * Returns 0 when truncated, too long or wider.
 */
static int
read_zigzag(Cursor *cursor, Py_ssize_t end, int max_bytes, int64_t *value)
{
    uint64_t raw = 0;
    Py_ssize_t position = cursor->position;
    for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
        if (position >= end)
            return 0;
        unsigned char byte = cursor->buf[position++];
        if (shift == 63 && (byte & 0x7F) > 1)
            return 0;
        raw |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            cursor->position = position;
            *value = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
            return 1;
        }
    }
    return 0;
}

#define read_varint(cursor, end, value) read_zigzag((cursor), (end), MAX_VARINT_BYTES, (value))
#define read_varlong(cursor, end, value) read_zigzag((cursor), (end), MAX_VARLONG_BYTES, (value))

/* Skip a length-prefixed field ending by `end`; *is_null says it was -1. Returns 0 on a bad length. */
static int
skip_bytes(Cursor *cursor, Py_ssize_t end, int nullable, int *is_null)
{
    int64_t length;
    if (!read_varint(cursor, end, &length))
        return 0;
    if (length < 0) {
        *is_null = 1;
        return length == -1 && nullable;
    }
    *is_null = 0;
    if (length > (int64_t)(end - cursor->position))
        return 0;
    cursor->position += (Py_ssize_t)length;
    return 1;
}

/* |timestamp - now| > difference, without overflow. */
static int
out_of_window(int64_t timestamp, int64_t now, int64_t difference)
{
    if (difference < 0)
        return 1;
    uint64_t distance = timestamp >= now ? (uint64_t)timestamp - (uint64_t)now
                                         : (uint64_t)now - (uint64_t)timestamp;
    return distance > (uint64_t)difference;
}

typedef struct {
    int64_t count;
    int64_t last_offset_delta;
    int64_t base_timestamp;
    int compacted;
    int windowed;
    int64_t now;
    int64_t difference;
} Rules;

/* The walk. Returns 1 and *max_timestamp for a valid section, 0 for any fault. */
static int
walk(const unsigned char *buf, Py_ssize_t end, const Rules *rules, int64_t *max_timestamp)
{
    if (rules->last_offset_delta == INT64_MAX || rules->count != rules->last_offset_delta + 1)
        return 0;
    Cursor cursor = {buf, 0};
    int64_t largest = -1;
    for (int64_t index = 0; index < rules->count; index++) {
        if (cursor.position >= end)
            return 0;
        int64_t length, timestamp_delta, offset_delta, headers, timestamp;
        int is_null;
        if (!read_varint(&cursor, end, &length))
            return 0;
        if (length < MIN_RECORD_BODY || length > (int64_t)(end - cursor.position))
            return 0;
        Py_ssize_t record_end = cursor.position + (Py_ssize_t)length;
        cursor.position += 1; /* attributes: unused by v2 records */
        if (!read_varlong(&cursor, record_end, &timestamp_delta))
            return 0;
        if (!read_varint(&cursor, record_end, &offset_delta) || offset_delta != index)
            return 0;
        if (!skip_bytes(&cursor, record_end, 1, &is_null) || (is_null && rules->compacted))
            return 0;
        if (!skip_bytes(&cursor, record_end, 1, &is_null))
            return 0;
        if (!read_varint(&cursor, record_end, &headers) || headers < 0)
            return 0;
        for (int64_t header = 0; header < headers; header++) {
            if (!skip_bytes(&cursor, record_end, 0, &is_null) || !skip_bytes(&cursor, record_end, 1, &is_null))
                return 0;
        }
        if (cursor.position != record_end)
            return 0;
        if (__builtin_add_overflow(rules->base_timestamp, timestamp_delta, &timestamp))
            return 0;
        if (timestamp > largest)
            largest = timestamp;
        if (rules->windowed && timestamp != -1 && out_of_window(timestamp, rules->now, rules->difference))
            return 0;
    }
    if (cursor.position != end)
        return 0;
    *max_timestamp = largest;
    return 1;
}

/* An int that fits int64 into *value; 0 (no exception left set) when it is not one. */
static int
as_int64(PyObject *object, int64_t *value)
{
    if (!PyLong_Check(object))
        return 0;
    int overflow;
    long long result = PyLong_AsLongLongAndOverflow(object, &overflow);
    if (overflow || (result == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *value = (int64_t)result;
    return 1;
}

PyDoc_STRVAR(check_doc,
"check(section, records_count, last_offset_delta, base_timestamp, compacted, timestamp_window)\n"
"--\n\n"
"Walk a v2 batch's (decompressed) record section as check_records_reference does.\n\n"
"Returns the largest record timestamp (-1 when none) when the records pass every check, or None\n"
"on any fault or input it does not judge (then the reference decides and raises).\n"
"timestamp_window is None or a tuple (now_ms, max_difference_ms).");

static PyObject *
check(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "check() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    Rules rules = {0};
    if (!as_int64(args[1], &rules.count) || !as_int64(args[2], &rules.last_offset_delta) ||
            !as_int64(args[3], &rules.base_timestamp))
        Py_RETURN_NONE;
    rules.compacted = PyObject_IsTrue(args[4]);
    if (rules.compacted < 0)
        return NULL;
    PyObject *window = args[5];
    if (window != Py_None) {
        if (!PyTuple_Check(window) || PyTuple_GET_SIZE(window) != 2 ||
                !as_int64(PyTuple_GET_ITEM(window, 0), &rules.now) ||
                !as_int64(PyTuple_GET_ITEM(window, 1), &rules.difference))
            Py_RETURN_NONE;
        rules.windowed = 1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    int64_t max_timestamp;
    int valid = walk((const unsigned char *)view.buf, view.len, &rules, &max_timestamp);
    PyBuffer_Release(&view);
    if (!valid)
        Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)max_timestamp);
}

static PyMethodDef methods[] = {
    {"check", (PyCFunction)(void (*)(void))check, METH_FASTCALL, check_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kafkalite.protocol._recordwalk",
    .m_doc = "The C walk of a v2 batch's records: the fast path of record_validation.check_records.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__recordwalk(void)
{
    return PyModuleDef_Init(&module_def);
}
