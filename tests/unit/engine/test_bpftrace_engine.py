"""fixproof.engine.bpftrace and .allocprobe without Docker or a Go binary: the shipped probes, rendering,
bpftrace's JSON output, syscall names, and the plan of allocation entry points from a binary's facts.
Real bpftrace on real binaries: tests/integration/test_bpftrace_engine.py."""

from __future__ import annotations

import pytest

from fixproof.engine.allocprobe import AllocCoverageError, AllocEntryPoints, alloc_entry_points, plan_entry_points
from fixproof.engine.bpftrace import (
    ProbeError,
    TraceError,
    parse_output,
    probes_dir,
    render_probe,
    syscall_names,
    uprobe_functions,
)

from conftest import ROOT

METHOD = "example.com/fixproof/tracedemo/pkg.(*T).M"
PLAIN = AllocEntryPoints((), 0, "runtime.mallocgc only")


def test_probes_are_packaged_linked_and_documented():
    link = ROOT / "probes"
    assert link.is_symlink() and link.resolve() == probes_dir().resolve()
    names = {"goroutines", "gc", "panics", "calls", "alloc", "syscalls"}
    for n in names:
        for ext in (".bt", ".d"):
            text = (probes_dir() / (n + ext)).read_text()
            assert "fixproof probe" in text and "Placeholders" in text, n + ext
            assert "uretprobe" not in text and ":return" not in text  # entry probes only
    assert "@created" in (probes_dir() / "goroutines.d").read_text()


def test_render_substitutes_binary_functions_and_registers():
    text = render_probe("probes/calls.bt", binary="/probe/demo", functions=["main.work", METHOD])
    body = [ln for ln in text.splitlines() if ln.startswith("uprobe:")]
    assert body == [
        "uprobe:/probe/demo:runtime.rt0_go* /@_tgid == 0/ { @_tgid = pid; }",
        'uprobe:/probe/demo:"main.work" /pid == @_tgid/ { @calls[probe] = count(); }',
        f'uprobe:/probe/demo:"{METHOD}" /pid == @_tgid/ {{ @calls[probe] = count(); }}',
    ]
    assert "{{function}}" in text  # comments are left alone
    assert uprobe_functions(text, "/probe/demo") == ("main.work", METHOD)  # wildcards are not checked
    assert 'sum(reg("ax"))' in render_probe("alloc", binary="/probe/x", alloc=PLAIN)
    assert 'sum(reg("r0"))' in render_probe("alloc.bt", binary="/probe/x", goarch="arm64", alloc=PLAIN)
    assert "uregs[R_RAX]" in render_probe("alloc.d", binary="/probe/x", alloc=PLAIN)
    assert "pid$target::main.work:entry" in render_probe("calls.d", binary="/x", functions=["main.work"])


@pytest.mark.parametrize("call, match", [
    (dict(name_or_path="calls"), "give at least one"),
    (dict(name_or_path="gc", functions=["main.work"]), "no {{function}} line"),
    (dict(name_or_path="calls", functions=['main."x"']), "cannot be put in a probe"),
    (dict(name_or_path="alloc", goarch="riscv64", alloc=AllocEntryPoints((), 0, "")), "amd64 and arm64"),
    (dict(name_or_path="alloc"), "counts heap allocations: render it with the traced binary's allocation entry"),
    (dict(name_or_path="alloc.d"), "counts heap allocations"),
    (dict(name_or_path="gc", alloc=AllocEntryPoints((), 0, "")), "no {{alloc_entry}} or {{mallocgc_above}}"),
    (dict(name_or_path="alloc", alloc=AllocEntryPoints(('runtime."x"',), 80, "")), "cannot be put in a probe"),
    (dict(name_or_path="nosuch"), "shipped probes are alloc.bt"),
])
def test_render_errors_are_usage_errors(call, match):
    with pytest.raises(ProbeError, match=match) as ei:
        render_probe(binary="/probe/demo", **call)
    assert ei.value.exit_code == 2


def test_render_rejects_unknown_placeholders(tmp_path):
    p = tmp_path / "x.bt"
    p.write_text("// {{whatever}} in a comment is fine\nBEGIN { printf(\"{{oops}}\"); }\n")
    with pytest.raises(ProbeError, match=r"x.bt:2: unknown placeholder \{\{oops\}\}"):
        render_probe(str(p), binary="/probe/demo")


def test_parse_output_reads_maps_printf_and_probe_keys():
    raw = "\n".join([
        '{"type": "attached_probes", "data": {"probes": 3}}',
        '{"type": "printf", "data": "a=1\\nb="}',
        '{"type": "printf", "data": "2\\n"}',
        "", "",
        '{"type": "map", "data": {"@_tgid": 1234}}',
        '{"type": "map", "data": {"@calls": {"uprobe:/probe/demo:main.work": 7}}}',
        '{"type": "stats", "data": {"@gc_interval_ns": {"count": 2, "average": 5, "total": 10}}}',
        '{"type": "hist", "data": {"@h": [{"min": 1, "max": 1, "count": 3}]}}',
    ])
    maps, printed, attached = parse_output(raw, "/probe/demo")
    assert maps == {"@calls": {"main.work": 7}, "@gc_interval_ns": {"count": 2, "average": 5, "total": 10},
                    "@h": [{"min": 1, "max": 1, "count": 3}]}
    assert printed == ("a=1", "b=2") and attached == 3
    with pytest.raises(TraceError, match="not JSON"):
        parse_output('{"type": ')


def test_syscall_names():
    assert syscall_names({"41": 1, "42": 2, "99999": 1}) == {"socket": 1, "connect": 2, "99999": 1}
    assert syscall_names({"198": 1, "203": 1}, "arm64") == {"socket": 1, "connect": 1}


SC127 = ["runtime.mallocgcTinySC2", *(f"runtime.mallocgcSmallNoScanSC{k}" for k in range(2, 8)),
         *(f"runtime.mallocgcSmallScanNoHeaderSC{k}" for k in range(1, 8))]


def _plan(functions=(), *, tables=81, go_version="go1.27.4", settings=None, symbols=None, inlined=()):
    names = ["runtime.mallocgc", "runtime.mallocgcLarge", *functions]
    syms = {n: (0x1000, 100) for n in names} if symbols is None else symbols
    if tables and symbols is None:
        syms.update({"runtime.mallocNoScanTable": (0x2000, 8 * tables),
                     "runtime.mallocScanTable": (0x3000, 8 * tables)})
    return plan_entry_points(functions=names, symbols=syms, ptr_size=8, go_version=go_version,
                             settings=settings or {}, inlined=inlined, binary="app")


@pytest.mark.parametrize("kw, match", [
    (dict(functions=[*SC127, "runtime.mallocgcSmallNoScanSC8"]), "cover 96 bytes"),  # tables say 80
    (dict(functions=SC127[1:]), "lack runtime.mallocgcTinySC2"),
    (dict(functions=[f for f in SC127 if not f.endswith("NoScanSC4")]), "lack runtime.mallocgcSmallNoScanSC4"),
    (dict(functions=[*SC127, "runtime.mallocgcMedium"], go_version="go1.28.1"),
     r"Go 1.28 is newer than Go 1.27, the last malloc layout read here, and has allocation functions of a layout "
     r"not known to fixproof \(runtime.mallocgcMedium\)"),
    (dict(functions=[*SC127, "runtime.mallocgcSmallNoScanSC99"]), "not known to fixproof"),
    (dict(functions=SC127, tables=0), "say size-specialised malloc is on, but the dispatch tables"),
    (dict(functions=SC127, settings={"GOEXPERIMENT": "nosizespecializedmalloc"}), "although its build settings"),
    (dict(functions=SC127, settings={"-race": "true"}), r"say size-specialised malloc is off \(-race\)"),
    (dict(functions=SC127, go_version=""), "Go release cannot be read"),
    (dict(functions=SC127, inlined={"runtime.mallocgcTinySC2"}), "runtime.mallocgcTinySC2 is inlined into callers"),
    (dict(functions=SC127, symbols={}), "runtime.mallocgc, runtime.mallocgcSmallNoScanSC2, .* are in the function"),
    (dict(symbols=None, functions=(), go_version="go1.26.8", settings={"GOEXPERIMENT": "sizespecializedmalloc"},
          tables=0), "say size-specialised malloc is on"),
])
def test_plan_refuses_what_a_probe_could_miss(kw, match):
    with pytest.raises(AllocCoverageError, match=match):
        _plan(**kw)


def test_plan_follows_build_settings_and_releases():
    assert _plan(SC127).mallocgc_above == 80
    for settings in ({"-race": "true"}, {"-msan": "true"}, {"-asan": "true"},
                     {"GOEXPERIMENT": "greenteagc,nosizespecializedmalloc"}, {"GOEXPERIMENT": "none"}):
        a = _plan(tables=0, settings=settings)
        assert (a.entries, a.mallocgc_above) == ((), 0), settings
    a = _plan(SC127[:3], tables=0, settings={"-tags": "netgo,valgrind"})  # direct calls, no dispatch
    assert (a.entries, a.mallocgc_above) == (tuple(sorted(SC127[:3])), 0)
    for v in ("go1.17.13", "go1.22.5", "go1.26.8", "go1.15.15"):
        assert _plan(tables=0, go_version=v).mallocgc_above == 0
    a = _plan([*SC127, "runtime.mallocgcTinySlowPath", "runtime.mallocgc.func1"], go_version="go1.29.0")
    assert a.mallocgc_above == 80 and "newer than Go 1.27" in a.reason
    # a 32-bit binary: the tables' length comes from its pointer size
    syms = {n: (1, 1) for n in ["runtime.mallocgc", *SC127]}
    syms.update({"runtime.mallocNoScanTable": (2, 4 * 81), "runtime.mallocScanTable": (3, 4 * 81)})
    a = plan_entry_points(functions=["runtime.mallocgc", *SC127], symbols=syms, ptr_size=4, go_version="go1.27.4",
                          settings={})
    assert a.mallocgc_above == 80


def test_non_elf_and_missing_files_are_trace_errors(tmp_path):
    with pytest.raises(TraceError, match="cannot read the allocation functions"):
        alloc_entry_points(str(tmp_path / "nope"))
    (tmp_path / "text").write_text("#!/bin/sh\n")
    with pytest.raises(TraceError, match="not a Go binary"):
        alloc_entry_points(str(tmp_path / "text"))
