"""Conditions on the domain XML, one row per behaviour, through compiled bundles."""
import pytest

from tests.policy.helpers import GUEST, run

WED_NOON = 1795608000.0   # 2026-11-25T12:00:00Z, a Wednesday
WED_2300 = WED_NOON + 11 * 3600

ROWS = [
    # an element that is absent does not exist
    ('{exists: "./devices/hostdev"}', False),
    # an element present twice exists
    ('{exists: "./devices/disk"}', True),
    # missing is the negation of exists
    ('{missing: "./description"}', False),
    # a final @attr selects an attribute value
    ('{exists: "./devices/disk/source/@file"}', True),
    # an attribute nobody sets does not exist
    ('{exists: "./devices/disk/source/@dev"}', False),
    # .// finds at any depth, with an attribute-value predicate
    ("{exists: \".//source[@bridge='br0']\"}", True),
    # predicate on a value nobody has
    ("{exists: \"./devices/disk[@device='floppy']\"}", False),
    # "/domain/..." is the same as "./..."
    ('{exists: "/domain/devices/interface/mac"}', True),
    # count compares the number of selected nodes
    ('{count: {path: ./devices/disk, gt: 1}}', True),
    # all bounds of a count must hold
    ('{count: {path: ./devices/disk, ge: 1, lt: 2}}', False),
    # [n] picks the n-th match of a step
    ('{count: {path: "./devices/disk[2]/target[@bus=\'ide\']", eq: 1}}', True),
    # 4194304 KiB is exactly 4 GiB: not greater
    ('{number: {path: ./memory, gt: 4 GiB}}', False),
    # ... but greater or equal
    ('{number: {path: ./memory, ge: 4 GiB}}', True),
    # a unit-less bound is in the condition's unit
    ('{number: {path: ./memory, unit: KiB, gt: 4194303}}', True),
    # KB is 1000 bytes (libvirt's rule), so 4 GiB > 4 GB
    ('{number: {path: ./memory, gt: 4 GB}}', True),
    # fractional bounds work: 4 GiB < 4.5 GiB
    ('{number: {path: ./memory, gt: "4.5 GiB"}}', False),
    # MiB and lt/le
    ('{number: {path: ./memory, lt: 4096 MiB}}', False),
    ('{number: {path: ./memory, le: 4096 MiB}}', True),
    # a number without units compares the raw text (vcpus)
    ('{number: {path: ./vcpu, gt: 1}}', True),
    # a number condition on an absent element is false, not an error
    ('{number: {path: ./maxMemory, gt: 0}}', False),
    # regex on element text (re.search)
    ('{regex: {path: ./name, pattern: "^prod-"}}', True),
    # ignore_case
    ('{regex: {path: ./name, pattern: "^PROD-", ignore_case: true}}', True),
    # regex on an attribute: true when any selected value matches
    ('{regex: {path: ./devices/disk/source/@file, pattern: "\\\\.iso$"}}', True),
    # equals: one of a list
    ('{equals: {path: ./os/type/@arch, value: [x86_64, i686]}}', True),
    # equals: a single value nobody has
    ('{equals: {path: ./devices/disk/@device, value: floppy}}', False),
    # all: every sub-condition
    ('{all: [{exists: ./devices/disk}, {missing: ./devices/hostdev}]}', True),
    # any: none holds
    ('{any: [{exists: ./devices/hostdev}, {count: {path: ./devices/disk, gt: 5}}]}', False),
    # not
    ('{not: {exists: ./devices/hostdev}}', True),
    # a time window on the right day and hour (UTC)
    ('{time: {days: [wed], from: "11:00", to: "13:00"}}', True),
    # the wrong day
    ('{time: {days: [thu, fri], from: "11:00", to: "13:00"}}', False),
    # a window over midnight, at noon: outside
    ('{time: {from: "22:00", to: "06:00"}}', False),
    # full day names are accepted
    ('{time: {days: [Wednesday]}}', True),
    # a zone: noon UTC is 21:00 in Tokyo
    ('{time: {from: "21:00", to: "22:00", tz: Asia/Tokyo}}', True),
]


@pytest.mark.parametrize(("cond", "denied"), ROWS, ids=[r[0] for r in ROWS])
def test_condition_decides_the_deny(cond, denied):
    rules = f"- {{id: r, match: {{op: [prepare]}}, mode: enforce, deny_if: {cond}, message: m}}"
    v = run(rules, now=WED_NOON)
    assert v.deny is denied, v
    assert v.decisions[0]["verdict"] == ("deny" if denied else "allow")


def test_time_window_wraps_past_midnight():
    rules = '- {id: r, match: {op: [prepare]}, deny_if: {time: {from: "22:00", to: "06:00"}}, message: m}'
    assert run(rules, now=WED_2300).deny


def test_wrapping_window_after_midnight_belongs_to_the_day_it_opened():
    rules = ('- {id: r, match: {op: [prepare]}, message: m, deny_if: {time: '
             '{days: [tue], from: "22:00", to: "06:00"}}}')
    wed_0300 = WED_NOON - 9 * 3600
    assert run(rules, now=wed_0300).deny          # Tuesday night's window, Wednesday 03:00
    assert not run(rules, now=WED_2300).deny      # Wednesday's 23:00 is not in a Tuesday window


def test_element_unit_attribute_scales_the_value():
    xml = GUEST.replace("<memory unit='KiB'>4194304", "<memory unit='GiB'>80")
    rules = "- {id: r, match: {op: [prepare]}, deny_if: {number: {path: ./memory, gt: 64 GiB}}, message: m}"
    assert run(rules, xml).deny


def test_element_without_unit_defaults_to_kib():
    xml = GUEST.replace("<memory unit='KiB'>4194304", "<memory>70000000")
    rules = "- {id: r, match: {op: [prepare]}, deny_if: {number: {path: ./memory, gt: 64 GiB}}, message: m}"
    assert run(rules, xml).deny


def test_unknown_unit_in_the_xml_is_an_evaluation_error():
    xml = GUEST.replace("<memory unit='KiB'>", "<memory unit='KiBs'>")
    rules = "- {id: r, match: {op: [prepare]}, deny_if: {number: {path: ./memory, gt: 64 GiB}}, message: m}"
    v = run(rules, xml)
    assert not v.deny and v.decisions[0]["verdict"] == "error"
    assert "unknown unit 'KiBs'" in v.decisions[0]["error"]
