"""Tests of the locality policy files in `localities/` and of the errors a bad policy file gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.localities import load_policies
from domain.policy import AgencyKind, AppealRoute, LocalityPolicy, PolicyError

ROOT = Path(__file__).resolve().parent.parent
LOCALITIES = ROOT / "localities"

LLR = (
    "leicester",
    "leicestershire",
    "rutland",
    "blaby",
    "charnwood",
    "harborough",
    "hinckley-and-bosworth",
    "melton",
    "north-west-leicestershire",
    "oadby-and-wigston",
)
CODES = {
    "leicester": "LEI",
    "leicestershire": "LCS",
    "rutland": "RUT",
    "blaby": "BLA",
    "charnwood": "CHA",
    "harborough": "HAR",
    "hinckley-and-bosworth": "HAB",
    "melton": "MEL",
    "north-west-leicestershire": "NWL",
    "oadby-and-wigston": "OAW",
    "tunbridge-wells": "TUN",
    "derby": "DER",
}
ALL = tuple(CODES)
POLICE = {key: "Leicestershire Police" for key in LLR} | {
    "tunbridge-wells": "Kent Police",
    "derby": "Derbyshire Constabulary",
}
LLR_GROUNDS = (
    "The review failed to consider a relevant process, policy or protocol.",
    "The review failed to consider relevant factual information.",
)


@pytest.fixture(scope="module")
def policies() -> dict[str, LocalityPolicy]:
    return load_policies(LOCALITIES)


# --- The real files ---


def test_load_policies_localities_folder_has_exactly_the_twelve_localities(
    policies: dict[str, LocalityPolicy],
) -> None:
    assert set(policies) == set(ALL)
    assert {path.stem for path in LOCALITIES.glob("*.toml")} == set(ALL)


def test_load_policies_relative_localities_path_from_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert set(load_policies(Path("localities"))) == set(ALL)


@pytest.mark.parametrize("key", ALL)
def test_load_policies_locality_identity(policies: dict[str, LocalityPolicy], key: str) -> None:
    policy = policies[key]
    assert policy.key == key
    assert policy.code == CODES[key]
    assert policy.nation == "england-and-wales"
    assert policy.council.strip() and policy.partnership.strip() and policy.report_asb.strip()
    assert policy.website is not None and policy.website.startswith("https://www.")
    assert policy.spoc.signature.strip()


def test_load_policies_codes_unique(policies: dict[str, LocalityPolicy]) -> None:
    codes = [policy.code for policy in policies.values()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("key", ALL)
def test_load_policies_contacts_are_placeholders(policies: dict[str, LocalityPolicy], key: str) -> None:
    policy = policies[key]
    emails = [policy.spoc.email, policy.manager.email, policy.appeal.contact.email]
    emails += [agency.email for agency in policy.agencies]
    real = [email for email in emails if not email.endswith(".example")]
    assert not real, f"{key}: real-looking addresses: {real}"


@pytest.mark.parametrize("key", ALL)
def test_load_policies_agencies_cover_the_partners(policies: dict[str, LocalityPolicy], key: str) -> None:
    policy = policies[key]
    kinds = {agency.kind for agency in policy.agencies}
    needed = {
        AgencyKind.POLICE,
        AgencyKind.COUNCIL_ASB,
        AgencyKind.HOUSING_PROVIDER,
        AgencyKind.YOUTH_OFFENDING,
        AgencyKind.HEALTH,
    }
    if key != "leicestershire":
        # The county council has no environmental health or housing service of its own: those are
        # district services in Leicestershire.
        needed |= {AgencyKind.ENVIRONMENTAL_HEALTH, AgencyKind.COUNCIL_HOUSING}
    assert needed <= kinds
    keys = [agency.key for agency in policy.agencies]
    assert len(keys) == len(set(keys))
    assert [agency.name for agency in policy.agencies_of_kind(AgencyKind.POLICE)] == [POLICE[key]]


@pytest.mark.parametrize("key", LLR)
def test_load_policies_llr_locality_follows_llr_policy(policies: dict[str, LocalityPolicy], key: str) -> None:
    policy = policies[key]
    threshold = policy.threshold
    assert (threshold.incident_count, threshold.window_months, threshold.report_within_months) == (3, 6, 1)
    assert threshold.same_date_counts_once is True
    assert threshold.hate_incident_route is True
    assert threshold.hate_incident_window_months == 6
    deadlines = policy.deadlines
    assert (deadlines.acknowledge, deadlines.threshold_information) == (5, 5)
    assert (deadlines.threshold_decision, deadlines.threshold_update_interval) == (10, 10)
    assert deadlines.review_information == 10
    assert (deadlines.outcome, deadlines.outcome_update_interval) == (20, 20)
    assert deadlines.appeal_window == 20
    assert deadlines.spoc_reminder_before == 2
    assert policy.impact_statement.in_person_minutes == 30
    appeal = policy.appeal
    assert (appeal.send_bundle, appeal.acknowledge, appeal.outcome, appeal.update_interval) == (1, 5, 20, 20)
    # Every LLR area shares the county team's list of partnership chairs, and its lessons go to partners.
    assert len(appeal.chairs) == len(LLR) and appeal.chair_list == "llr"
    assert appeal.lessons_to == ("communitysafety@leics.council.example",)
    if key in CSP_CHAIR:
        return
    assert appeal.route is AppealRoute.INDEPENDENT_CHAIR
    assert appeal.contact.name == "Community Safety Team, Leicestershire County Council"
    assert appeal.contact.email == "communitysafety@leics.council.example"
    assert appeal.grounds == LLR_GROUNDS
    # Any chair but their own partnership's.
    eligible = policy.eligible_appeal_chairs()
    assert len(eligible) == len(LLR) - 1
    assert all(chair.partnership != policy.partnership for chair in eligible)
    own = next(chair for chair in appeal.chairs if chair.partnership == policy.partnership)
    refusal = policy.appeal_chair_refusal(own)
    assert refusal is not None and "own partnership" in refusal


# Their own pages say the chair of their own partnership hears an appeal, on any dissatisfaction.
CSP_CHAIR = ("harborough", "north-west-leicestershire")


@pytest.mark.parametrize("key", CSP_CHAIR)
def test_load_policies_csp_chair_areas_are_heard_by_their_own_chair(
    policies: dict[str, LocalityPolicy], key: str
) -> None:
    policy = policies[key]
    assert policy.appeal.route is AppealRoute.CSP_CHAIR
    assert policy.appeal.grounds == ()
    assert [chair.partnership for chair in policy.eligible_appeal_chairs()] == [policy.partnership]
    other = next(chair for chair in policy.appeal.chairs if chair.partnership != policy.partnership)
    assert policy.appeal_chair_refusal(other) is not None
    assert policy.council in policy.appeal.contact.name


def test_load_policies_refuses_a_chair_list_that_is_missing_or_leaves_nobody(tmp_path: Path) -> None:
    folder = tmp_path / "localities"
    folder.mkdir()
    (folder / "blaby.toml").write_text((LOCALITIES / "blaby.toml").read_text(encoding="utf-8"))
    with pytest.raises(PolicyError, match=r"appeal\.chair_list: no file"):
        load_policies(folder)
    (folder / "appeal-chairs").mkdir()
    (folder / "appeal-chairs" / "llr.toml").write_text(
        '[[chairs]]\nkey = "own"\nname = "Chair"\nemail = "chair@blaby.council.example"\n'
        'partnership = "Blaby Community Safety Partnership"\n'
    )
    with pytest.raises(PolicyError, match="nobody listed may hear"):
        load_policies(folder)


@pytest.mark.parametrize("key", [key for key in LLR if key != "harborough"])
def test_load_policies_llr_locality_without_harborough_variations(
    policies: dict[str, LocalityPolicy], key: str
) -> None:
    threshold = policies[key].threshold
    assert threshold.multiple_complainants_route is False
    assert threshold.application_within_months_of_first_report is None
    assert threshold.extra_conditions == ()


def test_load_policies_harborough_adds_its_published_routes(policies: dict[str, LocalityPolicy]) -> None:
    threshold = policies["harborough"].threshold
    assert threshold.multiple_complainants_route is True
    assert threshold.multiple_complainants_count == 3
    assert threshold.application_within_months_of_first_report == 6


def test_load_policies_harborough_variations_are_explained_in_a_comment() -> None:
    text = (LOCALITIES / "harborough.toml").read_text(encoding="utf-8")
    comment_before = text.split("multiple_complainants_route = true")[0].splitlines()[-1]
    assert comment_before.startswith("#")
    assert "published" in text and "on top of the LLR policy" in text


def test_load_policies_tunbridge_wells_variations(policies: dict[str, LocalityPolicy]) -> None:
    policy = policies["tunbridge-wells"]
    threshold = policy.threshold
    assert (threshold.incident_count, threshold.window_months, threshold.report_within_months) == (3, 6, 1)
    assert threshold.hate_incident_route is False
    assert threshold.multiple_complainants_route is False
    assert policy.deadlines.acknowledge == 5
    assert (policy.deadlines.outcome, policy.deadlines.outcome_update_interval) == (25, 25)
    assert policy.appeal.route is AppealRoute.SENIOR_OFFICERS
    assert policy.appeal.grounds == ()
    assert len(policy.eligible_appeal_chairs()) == 2
    assert "Community Safety Unit" in policy.appeal.contact.name
    assert policy.spoc.phone == "01892 526121"


def test_load_policies_derby_variations(policies: dict[str, LocalityPolicy]) -> None:
    policy = policies["derby"]
    threshold = policy.threshold
    assert (threshold.incident_count, threshold.window_months) == (3, 6)
    assert threshold.hate_incident_route is True  # an assumption for the council to confirm
    assert policy.deadlines.acknowledge == 5
    assert policy.appeal.route is AppealRoute.PCC
    assert policy.appeal.grounds == ()
    assert [chair.key for chair in policy.eligible_appeal_chairs()] == ["derbyshire-pcc-office"]
    assert "Police and Crime Commissioner for Derbyshire" in policy.appeal.contact.name
    assert policy.agency("derby-homes") is not None


@pytest.mark.parametrize("key", ALL)
def test_load_policies_file_header_names_policy_and_placeholders(key: str) -> None:
    header = (LOCALITIES / f"{key}.toml").read_text(encoding="utf-8").splitlines()[:3]
    assert all(line.startswith("#") for line in header[:2])
    text = " ".join(line.lstrip("# ") for line in header)
    assert "placeholders" in text
    if key in LLR:
        assert "Leicester, Leicestershire and Rutland (LLR) Community Trigger policy" in text
    else:
        assert "not the LLR policy" in text


# --- Bad files: the error names the file, the field and what is wrong ---

BLABY = (LOCALITIES / "blaby.toml").read_text(encoding="utf-8")
SPOC_TABLE = """[spoc]
name = "Community Trigger SPOC, Community Safety Team"
email = "community.trigger@blaby.council.example"
phone = "0116 275 0555"
address = "Council Offices, Desford Road, Narborough, Leicester LE19 2EP"
signature = "Community Safety Team\\nBlaby District Council"
"""


def _broken(old: str, new: str, text: str = BLABY) -> str:
    """The text with `old`, which must occur exactly once, replaced by `new`."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the template"
    return text.replace(old, new)


def _line_of(text: str, policy: str = BLABY) -> int:
    """The line number (from 1) of the one line of the policy file that is `text`."""
    return policy.splitlines().index(text) + 1


@pytest.fixture(autouse=True)
def _chair_lists_beside(tmp_path: Path) -> None:
    """A policy file copied into a test's folder finds the shared lists of appeal chairs there too."""
    shutil.copytree(LOCALITIES / "appeal-chairs", tmp_path / "appeal-chairs")


def _load_error(directory: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policies(directory)
    return str(caught.value)


BAD_BLABY = [
    pytest.param(
        _broken("incident_count = 3", "incident_cout = 3"),
        ["threshold.incident_cout", "Extra inputs are not permitted"],
        id="misspelt-key",
    ),
    pytest.param(
        _broken("[spoc]\nname", "[spoc]\nnmae"),
        ["spoc.nmae", "Extra inputs are not permitted", "spoc.name", "Field required"],
        id="misspelt-key-in-contact",
    ),
    pytest.param(
        _broken("[deadlines]\nacknowledge = 5", "[deadlines]\nacknowledge = -5"),
        ["deadlines.acknowledge", "greater than or equal to 1"],
        id="negative-deadline",
    ),
    pytest.param(
        _broken("outcome = 20\noutcome_update_interval", "outcome = 0\noutcome_update_interval"),
        ["deadlines.outcome", "greater than or equal to 1"],
        id="zero-deadline",
    ),
    pytest.param(
        _broken("send_bundle = 1\nacknowledge = 5", "send_bundle = 1\nacknowledge = -1"),
        ["appeal.acknowledge", "greater than or equal to 1"],
        id="negative-appeal-deadline",
    ),
    pytest.param(
        _broken("incident_count = 3", 'incident_count = "three"'),
        ["threshold.incident_count", "valid integer"],
        id="deadline-not-a-number",
    ),
    pytest.param(
        _broken('nation = "england-and-wales"', 'nation = "wales"'),
        ["nation: ", "nation must be one of england-and-wales, scotland, northern-ireland, not 'wales'"],
        id="unknown-nation",
    ),
    pytest.param(
        _broken(
            'email = "community.trigger@blaby.council.example"', 'email = "community.trigger.blaby.example"'
        ),
        ["spoc.email", "not a valid email address"],
        id="bad-spoc-email",
    ),
    pytest.param(
        _broken('email = "asb@east-midlands-homes.example"', 'email = "asb@"'),
        ["agencies.4.email", "not a valid email address"],
        id="bad-agency-email",
    ),
    pytest.param(
        _broken(SPOC_TABLE, ""),
        ["spoc: Field required"],
        id="missing-spoc",
    ),
    pytest.param(
        _broken('key = "blaby-housing"', 'key = "blaby-asb"'),
        ["agencies: ", "agency keys must be unique; repeated: blaby-asb"],
        id="duplicate-agency-keys",
    ),
    pytest.param(
        _broken('kind = "police"', 'kind = "other"'),
        ["agencies: ", "agencies must include one of kind 'police'"],
        id="no-police-agency",
    ),
    pytest.param(
        _broken('kind = "council_asb"', 'kind = "other"'),
        ["agencies: ", "agencies must include one of kind 'council_asb'"],
        id="no-council-asb-agency",
    ),
    pytest.param(
        _broken('key = "blaby-asb"', 'key = "Blaby ASB"'),
        ["agencies.1.key", "should match pattern"],
        id="agency-key-not-a-slug",
    ),
    pytest.param(
        _broken('kind = "police"', 'kind = "constabulary"'),
        ["agencies.0.kind", "Input should be 'police'"],
        id="unknown-agency-kind",
    ),
    pytest.param(
        _broken('route = "independent_chair"', 'route = "ombudsman"'),
        [
            "appeal.route",
            "Input should be 'independent_chair', 'csp_chair', 'pcc' or 'senior_officers'",
        ],
        id="unknown-appeal-route",
    ),
    pytest.param(
        _broken('code = "BLA"', 'code = "Bl"'),
        ["code: ", "should match pattern '^[A-Z]{3}$'"],
        id="bad-code",
    ),
    pytest.param(
        _broken("[spoc]", "[spoc"),
        # The line of blaby.toml's [spoc] table.
        ["not valid TOML", f"line {_line_of('[spoc]')}"],
        id="invalid-toml",
    ),
    pytest.param(
        _broken("incident_count = 3", "incident_count = 3\nincident_count = 4"),
        ["not valid TOML"],
        id="invalid-toml-repeated-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_BLABY)
def test_load_policies_bad_file_names_file_field_and_reason(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "blaby.toml"
    path.write_text(text, encoding="utf-8")
    message = _load_error(tmp_path)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_load_policies_template_is_valid(tmp_path: Path) -> None:
    (tmp_path / "blaby.toml").write_text(BLABY, encoding="utf-8")
    assert set(load_policies(tmp_path)) == {"blaby"}


def test_load_policies_key_not_matching_file_name(tmp_path: Path) -> None:
    path = tmp_path / "charnwood.toml"
    path.write_text(BLABY, encoding="utf-8")
    assert _load_error(tmp_path) == f"{path}: key: must be the file's name 'charnwood', not 'blaby'"


def test_load_policies_duplicate_code_across_files(tmp_path: Path) -> None:
    (tmp_path / "blaby.toml").write_text(BLABY, encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(_broken('key = "blaby"', 'key = "other"'), encoding="utf-8")
    assert _load_error(tmp_path) == f"{other}: code: 'BLA' is already used by 'blaby'"


def test_load_policies_bad_file_named_among_good_files(tmp_path: Path) -> None:
    (tmp_path / "blaby.toml").write_text(BLABY, encoding="utf-8")
    bad = tmp_path / "charnwood.toml"
    bad.write_text(
        _broken('code = "BLA"', 'code = "CHA"', _broken('key = "blaby"', 'key = "charnwood"')).replace(
            "[deadlines]\nacknowledge = 5", "[deadlines]\nacknowledge = -1"
        ),
        encoding="utf-8",
    )
    message = _load_error(tmp_path)
    assert message.startswith(f"{bad}: deadlines.acknowledge: ")
    assert "blaby.toml" not in message


def test_load_policies_empty_folder(tmp_path: Path) -> None:
    assert _load_error(tmp_path) == f"{tmp_path}: no locality policy files (*.toml) found"


def test_load_policies_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert _load_error(missing) == f"{missing}: the localities folder does not exist"
