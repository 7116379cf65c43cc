#!/usr/bin/env python3
"""callgrind-areas.py OUT COUNTS -- splits a callgrind profile of core_bench into areas.

Every instruction is counted once (self cost), in the area of the function that ran it:
malloc (the core's cJSON pool too) and the VFS by their own names; the core's files, cJSON and FTS5 by theirs; SQLite's
other functions and libc helpers (memcpy...) take the area of their callers, shared in
proportion to the calls' inclusive costs, walking up until a function with an area: FTS5,
SQLite's JSON functions, statement preparation, or the core calling into SQLite (statement
execution: step, b-tree, commit). COUNTS is core_bench's JSON line, for the per-record column.
"""
import json
import re
import sys
from collections import defaultdict

path, counts = sys.argv[1], json.loads(sys.argv[2])

names, files = {}, {}
self_cost = defaultdict(int)
edges = defaultdict(lambda: defaultdict(int))  # callee -> caller -> inclusive cost
file_of = {}
callees = defaultdict(set)  # caller -> callees


def ref(table, text):
    m = re.match(r'\((\d+)\)(?: (.*))?', text)
    if not m:
        return text
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table[m.group(1)]


fn = fl = cfn = cfile = None
pending_call = False
with open(path) as f:
    for line in f:
        line = line.rstrip('\n')
        if not line or line[0] == '#':
            continue
        key, _, val = line.partition('=')
        if key in ('fl', 'fi', 'fe') and _:
            name = ref(files, val)
            if key == 'fl':
                fl = name
        elif key == 'fn' and _:
            fn = ref(names, val)
            file_of.setdefault(fn, fl)
        elif key in ('cfi', 'cfl') and _:
            cfile = ref(files, val)
        elif key == 'cfn' and _:
            cfn = ref(names, val)
            file_of.setdefault(cfn, cfile or fl)  # without cfi/cfl the callee is in the caller's file
            cfile = None
        elif key == 'calls' and _:
            pending_call = True
        elif line[0].isdigit() or line[0] in '+-*':
            parts = line.split()
            cost = int(parts[1]) if len(parts) > 1 else 0
            if pending_call:
                edges[cfn][fn] += cost
                callees[fn].add(cfn)
                pending_call = False
            else:
                self_cost[fn] += cost

total = sum(self_cost.values())
MALLOC = re.compile(r'^(malloc|free|realloc|calloc|cfree|pool_malloc|pool_free|refill|_int_malloc|_int_free|_int_realloc|malloc_consolidate|'
                    r'unlink_chunk|tcache_\w+|sqlite3(Mem\w+|Malloc\w*|_malloc\w*|_free|_realloc\w*|DbFree\w*|DbMalloc\w*|'
                    r'DbRealloc\w*|DbNNFreeNN|DbStrN?Dup|StrDup|Realloc|MallocSize|DbMallocSize))$')
VFS = re.compile(r'^(unix\w+|memdb\w+|sloop_vfs\w*|vfs_\w+|posix\w+|robust_\w+|seekAndRead\w*|seekAndWrite\w*|'
                 r'sqlite3Os\w+)$')
PREPARE = re.compile(r'^(sqlite3_prepare\w*|sqlite3LockAndPrepare|sqlite3Prepare\w*|sqlite3Reprepare)$')


def src(name):
    return file_of.get(name) or ''


def own_area(name):
    """The area a function belongs to by itself, or None if it takes its callers'."""
    s = src(name)
    name = re.sub(r"'\d+$", '', name)  # callgrind names recursion levels f'2, f'3...
    if MALLOC.match(name):
        return 'malloc/free'
    if re.match(r'^0x[0-9a-f]+$', name) and any(MALLOC.match(c) for c in callees.get(name, ())):
        return 'malloc/free'  # a PLT stub on the way to malloc or free
    if VFS.match(name):
        return 'VFS (file I/O)'
    if s.endswith('cJSON.c'):
        if re.match(r'^(cJSON_Parse\w*|parse_\w+|buffer_skip_whitespace|skip_utf8_bom|get_decimal_point|'
                    r'utf16_literal_to_utf8|parse_hex4)$', name):
            return 'cJSON parse'
        if re.match(r'^(cJSON_Print\w*|print\w*|ensure|update_offset|compare_double)$', name):
            return 'cJSON print'
        return 'cJSON tree (build, look up, copy, free)'
    if s.endswith('json_print.c'):
        return 'JSON print (json_print.c)'
    if s.endswith('json_parse.c'):
        return 'JSON parse (json_parse.c)'
    if s.endswith('json.c'):
        return 'cJSON tree (build, look up, copy, free)'  # sloop_member, the core's look-up
    if s.endswith('hlc.c'):
        return 'HLC format/parse/tick'
    if s.endswith(('merge.c', 'op_parse.c', 'materialize.c')):
        return 'merge logic (merge.c)'
    if '/wasm/src/' in '/' + s or s.startswith('tests/') or '/tests/' in s:
        return 'core (store, sync, server, docs: own code)'
    if s.endswith('sqlite3.c'):
        if re.search(r'fts5', name, re.I):
            return 'FTS5'
        if re.match(r'^json\w*', name):
            return "SQLite JSON functions (json_extract...)"
        if PREPARE.match(name):
            return 'SQLite prepare (parse, plan, codegen)'
    return None


def is_core(name):
    a = own_area(name)
    return a is not None and not src(name).endswith('sqlite3.c') and a not in ('malloc/free', 'VFS (file I/O)')


memo = {}


def areas(name, stack=(), callers_only=False):
    """Distribution of this function's instructions over areas (fractions summing to 1);
    callers_only: over its callers' areas, whatever its own."""
    if name in memo and not callers_only:
        return memo[name]
    a = None if callers_only else own_area(name)
    if a:
        return {a: 1.0}
    callers = edges.get(name, {})
    weight = sum(c for caller, c in callers.items() if caller not in stack)
    out = defaultdict(float)
    if name.startswith('measured_') or not weight:
        out['other'] = 1.0
    else:
        for caller, c in callers.items():
            if caller in stack or not c:
                continue
            if is_core(caller) and src(name).endswith('sqlite3.c'):
                sub = {'SQLite statements (step, b-tree, commit)': 1.0}
            elif is_core(caller):
                sub = {own_area(caller): 1.0}
            else:
                sub = areas(caller, stack + (name,), callers_only and own_area(caller) == 'malloc/free')
            for k, v in sub.items():
                out[k] += v * c / weight
    if not stack and not callers_only:
        memo[name] = dict(out)
    return dict(out)


by_area = defaultdict(float)
for name, c in self_cost.items():
    for a, share in areas(name).items():
        by_area[a] += c * share

if 'records' in counts:
    unit, n = 'record', counts['records']
elif 'ops' in counts:
    unit, n = 'op', counts['ops']
else:
    unit, n = 'query', counts['queries']
print(f'## instructions by area ({total:,} in all, {total / n:,.0f} per {unit})')
print()
print(f'| area | share | instructions per {unit} |')
print('|---|---:|---:|')
for a, c in sorted(by_area.items(), key=lambda kv: -kv[1]):
    print(f'| {a} | {100 * c / total:.1f}% | {c / n:,.0f} |')

# Whose allocations: malloc/free's instructions by the area that called them.
whose = defaultdict(float)
for name, c in self_cost.items():
    if own_area(name) == 'malloc/free':
        for a, share in areas(name, callers_only=True).items():
            whose[a if a != 'malloc/free' else 'other'] += c * share
if whose:
    parts = ', '.join(f'{a} {100 * c / total:.1f}%' for a, c in sorted(whose.items(), key=lambda kv: -kv[1]) if c / total >= 0.001)
    print()
    print(f'malloc/free on behalf of (share of all instructions): {parts}')

if len(sys.argv) > 3:  # debugging: the largest functions of one area
    rows = [(c * areas(n).get(sys.argv[3], 0), n, src(n)) for n, c in self_cost.items()]
    for c, n, s in sorted(rows, reverse=True)[:15]:
        print(f'{c / total:6.1%} {n} {s}')
