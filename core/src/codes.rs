//! Stable diagnostic codes and their documentation (`cpln-postgres-ha explain CODE`).
//!
//! A code never changes meaning once released; retire a code rather than reuse it.
//! Families: `Y` input and YAML, `S` schema shape, `R` replica topology, `Q` CPU and
//! memory, `A` access, `E` etcd, `V` volumes, `P` Patroni, `C` credentials.

use crate::diagnostic::Severity;

macro_rules! codes {
    ($(
        $variant:ident = $code:literal, $name:literal, $severity:ident,
        $summary:literal,
        $doc:literal;
    )*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant),* }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed (`R003`).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            /// The rule's kebab-case name (`etcd-even-members`).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name),* }
            }

            /// The severity diagnostics of this code normally carry.
            #[must_use]
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity),* }
            }

            /// One line: what the rule checks.
            #[must_use]
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary),* }
            }

            /// The long explanation: what it checks, why, an example, and the fix.
            #[must_use]
            pub fn documentation(self) -> &'static str {
                match self { $(Code::$variant => $doc),* }
            }
        }
    };
}

impl Code {
    /// Looks a code up by its code (`r003`, case-insensitive) or its name.
    #[must_use]
    pub fn lookup(text: &str) -> Option<Code> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text) || c.name() == text)
    }
}

codes! {
    YamlSyntax = "Y001", "yaml-syntax", Error,
    "The file is not well-formed YAML.",
"## What it checks
That the file parses as YAML 1.2.

## Why
Nothing else can be checked until the file parses; the parser's message and position
say where it stopped.

## Example
    postgres:
      username: app
     database: app      # indented one space less than its sibling

## Fix
Align keys of the same mapping, close quotes and brackets, and do not use tabs for
indentation.";

    EmptyDocument = "Y002", "empty-document", Error,
    "The file holds no values.",
"## What it checks
That the file contains a document with at least one key.

## Why
An empty values file is almost always a mistake (a truncated file, a wrong path);
deploying all defaults from it would hide that.

## Example
    # only comments

## Fix
Write the values you want, or start from `examples/values.yaml`. To accept every
default explicitly, write `{}`.";

    NotUtf8 = "Y003", "not-utf8", Error,
    "The file is not valid UTF-8.",
"## What it checks
That the file is UTF-8 text.

## Why
YAML is read as UTF-8; other encodings (Latin-1, UTF-16) would change your values
silently.

## Example
A file saved as UTF-16 by an editor.

## Fix
Save the file as UTF-8. The position shows the first byte that is not UTF-8.";

    TooLarge = "Y004", "file-too-large", Error,
    "The file is larger than 1 MiB.",
"## What it checks
That the file is at most 1 MiB.

## Why
A values file is a few kilobytes. A huge file is the wrong file, and reading it
would waste time and memory in a pre-commit hook or a browser.

## Example
A database dump passed by mistake.

## Fix
Pass the values file itself.";

    TooDeep = "Y005", "nesting-too-deep", Error,
    "Mappings or lists are nested more than 64 levels deep.",
"## What it checks
That nesting stays within 64 levels.

## Why
The values model is at most a few levels deep; deeper input is malformed or hostile
and is refused before it can exhaust the stack.

## Example
    a: [[[[[[[[ ... ]]]]]]]]

## Fix
Remove the nesting; see `cpln-postgres-ha schema` for the expected shape.";

    AliasExpansion = "Y006", "alias-expansion-limit", Error,
    "YAML aliases expand to more than 10,000 nodes.",
"## What it checks
That anchors and aliases (`&a`, `*a`) expand to at most 10,000 nodes in all.

## Why
Nested aliases can expand exponentially (the 'billion laughs' attack); the limit keeps
validation bounded in time and memory.

## Example
    a: &a [x, x, x, x, x, x, x, x, x]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]

## Fix
Write the values out; a values file has no need for deep aliasing.";

    DuplicateKey = "Y007", "duplicate-key", Error,
    "A key appears twice in the same mapping.",
"## What it checks
That no mapping repeats a key.

## Why
YAML leaves the outcome undefined and tools disagree: one keeps the first value,
another the last. Either way one of the two values is silently lost.

## Example
    replicas: 3
    replicas: 5

## Fix
Keep one of the two entries.";

    MultipleDocuments = "Y008", "multiple-documents", Error,
    "The file holds more than one YAML document.",
"## What it checks
That the file holds exactly one document (no second `---`).

## Why
A values file describes one release; a second document would be ignored by some tools
and merged by others.

## Example
    replicas: 3
    ---
    replicas: 5

## Fix
Split the documents into separate files.";

    ComplexKey = "Y009", "complex-key", Error,
    "A mapping key is a list or a mapping.",
"## What it checks
That every key is a plain scalar.

## Why
Values keys are names; a list or mapping as a key cannot be represented in JSON and
has no meaning here.

## Example
    ? [a, b]
    : 1

## Fix
Use a plain name as the key.";

    RootNotMapping = "Y010", "root-not-mapping", Error,
    "The document is not a mapping of keys to values.",
"## What it checks
That the top of the document is a mapping (`key: value` lines).

## Why
Values are looked up by key; a list or a bare string at the top has no keys.

## Example
    - replicas: 3

## Fix
Remove the leading `- ` or quote marks so the top level is `key: value` lines.";

    UnsupportedTag = "Y011", "unsupported-tag", Error,
    "A YAML tag other than the core schema's is used.",
"## What it checks
That tags are limited to `!!str`, `!!int`, `!!float`, `!!bool` and `!!null`, and that a
tagged scalar fits its tag.

## Why
Other tags (`!!binary`, `!Ref`, custom ones) need an application to interpret them;
here they would be silently read as strings.

## Example
    replicas: !!int three

## Fix
Remove the tag, or write a value of the tag's type.";

    FileUnreadable = "Y012", "file-unreadable", Error,
    "The file cannot be read.",
"## What it checks
That each file given exists, is a regular file (or `-`, standard input) and can be read.

## Why
A missing file, a directory, a named pipe or a device cannot be a values file; a
named pipe or `/dev/zero` would block or never end. The file is still listed in every
output format, so a run over many files shows which one failed.

## Example
    cpln-postgres-ha validate missing.yaml

## Fix
Pass the path of a readable values file; use `-` to read standard input.";

    TooManyProblems = "Y013", "too-many-problems", Error,
    "More problems than are reported for one file.",
"## What it checks
That a file has at most 100 problems. Only the first 100, in source order, are
reported; this diagnostic says how many more there are and how serious the worst is
(its severity is theirs).

## Why
A generated or corrupted file can hold hundreds of thousands of problems; reporting
all of them would take minutes and gigabytes without telling more than the first.

## Example
    k000001: 1
    k000002: 1
    # … 200,000 unknown keys

## Fix
Fix the problems shown and check again.";

    TooManyNodes = "Y014", "too-many-values", Error,
    "The file writes more than 10,000 keys, values and list items.",
"## What it checks
That the file holds at most 10,000 nodes (mapping keys, scalar values, lists,
mappings and aliases, counted as written).

## Why
A complete values file has a few hundred. A file with hundreds of thousands of keys
or list items is generated or corrupted; the limit keeps checking it fast and small,
like the size and nesting limits.

## Example
    internal_access:
      workloads: [a, a, a, a, …]   # 500,000 items

## Fix
Pass the values file itself, or remove the generated part.";

    InvalidType = "S001", "invalid-type", Error,
    "A value has the wrong type.",
"## What it checks
That each value has the type the schema gives it (number, string, boolean, list,
mapping).

## Why
A wrong type means the value was misread (`replicas: \"three\"`) or misplaced.

## Example
    replicas: three

## Fix
Write a value of the expected type; `cpln-postgres-ha schema` lists every key with its
type, and the help text says which type is expected.";

    UnknownKey = "S002", "unknown-key", Error,
    "A key the values model does not know.",
"## What it checks
That every key is one the values model defines.

## Why
A misspelt key is otherwise ignored silently and its default used instead: `replica: 5`
would deploy 3 members.

## Example
    replica: 5

## Fix
Use the suggested key, or remove the key. Keys from the Helm template 2.x
(`minCpu`, `pgbouncer`, `backup`, `config.credentialsSecretName`) have no meaning
here.";

    InvalidEnum = "S003", "invalid-choice", Error,
    "A value is not one of the allowed choices.",
"## What it checks
That a value with a fixed set of choices is one of them.

## Why
An unknown choice cannot be rendered.

## Example
    internal_access:
      type: same_gvc

## Fix
Use one of the choices listed in the message.";

    OutOfRange = "S004", "out-of-range", Error,
    "A number is outside its allowed range.",
"## What it checks
Minimums and maximums of numeric values that have no more specific rule.

## Why
Values outside the range are rejected by Control Plane or make no sense for the
cluster.

## Example
    proxy:
      replicas: 0

## Fix
Use a value within the range given in the message.";

    InvalidFormat = "S005", "invalid-format", Error,
    "A string does not have the required form.",
"## What it checks
Patterns and lengths of strings that have no more specific rule.

## Why
Such values are names or durations that Control Plane or etcd parse.

## Example
    etcd:
      compaction:
        retention: one hour

## Fix
Follow the form given in the message and the schema description.";

    MissingKey = "S006", "missing-key", Error,
    "A required key is missing.",
"## What it checks
That keys without a default are present.

## Why
There is no sensible value to assume for them.

## Example
    resources:
      cpu: 500m        # memory is missing

## Fix
Add the key named in the message.";

    SchemaViolation = "S007", "schema-violation", Error,
    "The value breaks another schema constraint.",
"## What it checks
Any schema constraint without a more specific code.

## Why
The schema describes what can be deployed.

## Example
See the message.

## Fix
See the message and `cpln-postgres-ha schema`.";

    ReplicasBelowOne = "R001", "replicas-below-one", Error,
    "A member count is below 1.",
"## What it checks
That `replicas` and `etcd.replicas` are at least 1.

## Why
With no members there is no database (or no etcd, and Patroni cannot elect a leader).

## Example
    replicas: 0

## Fix
Use at least 1; use 3 for high availability.";

    ReplicasNotHa = "R002", "replicas-not-ha", Warning,
    "Fewer than 3 PostgreSQL members: no automatic failover with a spare.",
"## What it checks
That `replicas` is at least 3.

## Why
With 1 member nothing takes over when it fails. With 2, a failover leaves a single
member, and with synchronous replication the survivor has no standby to confirm
commits.

## Example
    replicas: 2

## Fix
Use `replicas: 3` (or more).";

    EtcdEven = "R003", "etcd-even-members", Error,
    "etcd has an even number of members.",
"## What it checks
That `etcd.replicas` is odd.

## Why
etcd needs a majority. 4 members tolerate one failure, exactly like 3, but need one
more vote for every decision, and a 2/2 network split stops the cluster entirely.

## Example
    etcd:
      replicas: 4

## Fix
Use 3 (tolerates one failure) or 5 (tolerates two).";

    EtcdNotHa = "R004", "etcd-not-ha", Warning,
    "Fewer than 3 etcd members: losing one stops leader election.",
"## What it checks
That `etcd.replicas` is at least 3.

## Why
With one etcd member its loss stops Patroni from renewing the leader lease, and the
primary demotes itself.

## Example
    etcd:
      replicas: 1

## Fix
Use 3 etcd members.";

    EtcdTooMany = "R005", "etcd-too-many", Warning,
    "Retired: more than 7 etcd members (now refused by R007).",
"## What it checks
Retired; no longer reported. It warned when `etcd.replicas` was above 7. Control Plane
runs at most 6 replicas of a workload with per-replica addresses, so R007 now refuses
any etcd count above 5 and this warning can no longer arise.

## Why
Every write waits for a majority; more members add latency without useful extra
tolerance for a single database cluster.

## Example
    etcd:
      replicas: 9

## Fix
Use 3 or 5.";

    StrictWithoutStandby = "R006", "strict-sync-without-standby", Error,
    "Strict synchronous mode with a single member blocks every write.",
"## What it checks
That `patroni.synchronous_mode_strict` is not set while `replicas` is 1.

## Why
In strict mode a commit waits for a synchronous standby; with no standby, every write
waits forever.

## Example
    replicas: 1
    patroni:
      synchronous_mode_strict: true

## Fix
Add members (`replicas: 3`) or turn strict mode off.";

    ReplicasAbovePlatformLimit = "R007", "replicas-above-platform-limit", Error,
    "More members than Control Plane runs with per-member addresses.",
"## What it checks
That `replicas` is at most 6 and `etcd.replicas` at most 5 (odd, within 6).

## Why
Every PostgreSQL and etcd member needs its own stable address (replication, Patroni
and etcd peers reach each other by member name). Control Plane gives per-replica
addresses only to stateful workloads of at most 6 replicas, and orgs start with a
quota of 5 replicas per workload. `render` and `deploy` would refuse such a count;
this rule says so first, with its position.

## Example
    replicas: 7

## Fix
Use at most 6 PostgreSQL members (3 is the usual choice) and 3 or 5 etcd members.";

    InvalidQuantity = "Q001", "invalid-quantity", Error,
    "A CPU or memory value is not a Kubernetes-style quantity.",
"## What it checks
That `cpu` is cores or millicores (`\"1\"`, `\"0.5\"`, `\"500m\"`) and `memory` is bytes
with an optional suffix (`\"512Mi\"`, `\"2Gi\"`).

## Why
Control Plane rejects other spellings. `GB`, `MB` and spaces are common slips.

## Example
    resources:
      memory: 2GB

## Fix
Use the suggested spelling (`2Gi`), and quote it so YAML keeps it a string.";

    CpuTooSmall = "Q002", "cpu-too-small", Error,
    "CPU is below Control Plane's minimum of 25m.",
"## What it checks
That every `cpu` is at least `25m`.

## Why
Control Plane refuses smaller CPU allocations.

## Example
    resources:
      cpu: 10m

## Fix
Use at least `25m`; PostgreSQL wants `500m` or more.";

    MemoryTooSmall = "Q003", "memory-too-small", Error,
    "Memory is below Control Plane's minimum of 32Mi.",
"## What it checks
That every `memory` is at least `32Mi`. A bare number is bytes.

## Why
Control Plane refuses smaller memory allocations; `memory: 2048` is 2 KB, not 2 GB.

## Example
    resources:
      memory: 2048

## Fix
Write a suffix: `2Gi`.";

    MemoryCpuRatio = "Q004", "memory-cpu-ratio", Error,
    "Memory exceeds 8 MiB per millicore of CPU.",
"## What it checks
That memory (in MiB) divided by CPU (in millicores) is at most 8.

## Why
Control Plane rejects workloads above this ratio: `cpu: 100m` allows at most `800Mi`.

## Example
    resources:
      cpu: 100m
      memory: 2Gi

## Fix
Raise `cpu` (the message gives the smallest value that fits) or lower `memory`.";

    QuantityAsNumber = "Q005", "quantity-as-number", Info,
    "A quantity is written as a YAML number.",
"## What it checks
Whether `cpu` or `memory` is written as a number rather than a string.

## Why
Control Plane expects strings; postgres-ha converts numbers for you, but other tools
reading the same file may not. A bare memory number means bytes.

## Example
    resources:
      cpu: 1

## Fix
Quote it: `cpu: \"1\"`.";

    WorkloadListEmpty = "A001", "workload-list-empty", Error,
    "`workload-list` access with no workloads listed.",
"## What it checks
That `internal_access.workloads` lists at least one workload when `type` is
`workload-list`.

## Why
An empty list lets no workload in: the database would be unreachable.

## Example
    internal_access:
      type: workload-list

## Fix
List the workloads that may connect:

    internal_access:
      type: workload-list
      workloads:
        - //gvc/prod/workload/api";

    InvalidWorkloadLink = "A002", "invalid-workload-link", Error,
    "A workload link is not of the form `//gvc/GVC/workload/NAME`.",
"## What it checks
That each entry of `workloads` is a full workload link.

## Why
Control Plane matches firewall entries by link; a bare name or a wrong form matches
nothing and the workload is refused.

## Example
    workloads:
      - api

## Fix
Write the full link: `//gvc/prod/workload/api`.";

    WorkloadsIgnored = "A003", "workloads-ignored", Warning,
    "`workloads` is set but ignored with `same-org`.",
"## What it checks
That `workloads` is empty when `type` is `same-org`.

## Why
`same-org` already admits every workload of the org, so the list has no effect, which
usually means the type is not the one intended.

## Example
    internal_access:
      type: same-org
      workloads: [//gvc/prod/workload/api]

## Fix
Remove the list, or use `workload-list` to admit only those workloads.";

    CompactionRetention = "E001", "compaction-retention-form", Error,
    "etcd compaction retention does not fit its mode.",
"## What it checks
That `etcd.compaction.retention` is a duration with a unit (`30m`, `1h`) in `periodic`
mode, and a whole number of revisions in `revision` mode.

## Why
etcd reads a bare number in periodic mode as hours, so `retention: 30` silently keeps
30 hours of history; a unit in revision mode is rejected by etcd at start-up.

## Example
    etcd:
      compaction:
        mode: periodic
        retention: \"30\"

## Fix
Write the unit: `retention: 30m`, or switch to `mode: revision` for a count.";

    CapacityOutOfRange = "V001", "capacity-out-of-range", Error,
    "A volume capacity is outside 10..65536 GiB.",
"## What it checks
That `volumeset.capacity` and `etcd.volumeset.capacity` are between 10 and 65536.

## Why
Control Plane volume sets are at least 10 GiB and at most 65536 GiB.

## Example
    volumeset:
      capacity: 5

## Fix
Use a capacity in range.";

    TimingBelowMinimum = "P001", "timing-below-minimum", Error,
    "A Patroni timer is below Patroni's minimum.",
"## What it checks
That `ttl` ≥ 20, `loop_wait` ≥ 1 and `retry_timeout` ≥ 3 (seconds).

## Why
Patroni refuses or silently raises smaller values, so the cluster would not run with
the timing you wrote.

## Example
    patroni:
      timing:
        ttl: 10

## Fix
Use at least the minimum, or pick a `preset`.";

    TimingRule = "P002", "timing-rule", Error,
    "`loop_wait + 2 × retry_timeout` exceeds `ttl`.",
"## What it checks
That `loop_wait + 2 × retry_timeout ≤ ttl` for the effective timers (preset plus
overrides).

## Why
The leader must be able to retry etcd for `retry_timeout` and still renew its lease
before `ttl` runs out; otherwise a slow etcd makes two members believe they lead, or
the leader demotes needlessly. Patroni 3.2+ silently changes such values. The Helm
template's `ttl: 30, loop_wait: 10, retry_timeout: 30` breaks this rule (10 + 60 > 30).

## Example
    patroni:
      timing:
        ttl: 30
        loop_wait: 10
        retry_timeout: 30

## Fix
Raise `ttl` or lower `retry_timeout`; the message gives the largest `retry_timeout`
that fits.";

    ManagedParameter = "P003", "managed-parameter", Error,
    "A PostgreSQL parameter that Patroni manages is set in `postgres.parameters`.",
"## What it checks
That `postgres.parameters` does not set parameters Patroni or postgres-ha control
(`port`, `listen_addresses`, `hot_standby`, `wal_level`, `max_wal_senders`,
`max_replication_slots`, `wal_log_hints`, `synchronous_standby_names`, …).

## Why
Patroni overrides them, or changing them breaks replication and failover.

## Example
    postgres:
      parameters:
        wal_level: minimal

## Fix
Remove the parameter; the cluster sets it correctly.";

    SynchronousCommitWeakened = "P004", "synchronous-commit-weakened", Error,
    "`synchronous_commit` is `off` or `local` while synchronous mode is on.",
"## What it checks
That `postgres.parameters.synchronous_commit` is `on`, `remote_write` or `remote_apply`
when `patroni.synchronous_mode` is true.

## Why
Synchronous mode promises that a failover loses no acknowledged write because every
commit waits for the synchronous standby. With `off` or `local` a commit is
acknowledged before any standby has it, so that promise silently breaks.

## Example
    postgres:
      parameters:
        synchronous_commit: local

## Fix
Use `on` (the default), `remote_write` or `remote_apply`, or set
`patroni.synchronous_mode: false` if asynchronous replication is what you want.";

    UnknownParameter = "P005", "unknown-parameter", Error,
    "A PostgreSQL parameter that PostgreSQL 17 does not have.",
"## What it checks
That every key of `postgres.parameters` is a PostgreSQL 17 server parameter, or a
custom one with a dot (`pg_stat_statements.max`, set by an extension).

## Why
PostgreSQL refuses to start when `postgresql.conf` names a parameter it does not know,
so a typo would keep every member down.

## Example
    postgres:
      parameters:
        max_connection: 200

## Fix
Use the parameter's exact name; the help suggests the closest one.";

    UnsafeParameterValue = "P006", "unsafe-parameter-value", Error,
    "A parameter replication depends on is set outside its safe range.",
"## What it checks
That `wal_level` is `replica` or `logical`, and that `max_wal_senders` and
`max_replication_slots`, when set, leave room for every member: at least the member
count plus 2 (a new member's base backup needs its own connections), at most 1000.

## Why
Below that, a replica or a member being added cannot connect and the cluster loses
its standby; `wal_level: minimal` cannot stream at all.

## Example
    postgres:
      parameters:
        max_wal_senders: 2

## Fix
Raise the value to at least the member count plus 2, or remove it to keep the
default.";

    InvalidParameterValue = "P007", "invalid-parameter-value", Error,
    "A PostgreSQL parameter's value that PostgreSQL 17 would refuse.",
"## What it checks
That each value in `postgres.parameters` fits its parameter's type in PostgreSQL 17:
a boolean (`on`, `off`, …), one of an enum's choices, or a number within the
parameter's bounds with a unit of the right kind (`128MB` for memory, `5min` for time).

## Why
PostgreSQL refuses to start when `postgresql.conf` holds a value it cannot read, so
every member would stay down.

## Example
    postgres:
      parameters:
        shared_buffers: 128XB

## Fix
Write the value in a form PostgreSQL accepts; the message says what is wrong.";

    WeakPassword = "C001", "weak-password", Warning,
    "The password is weak, a well-known default or a placeholder.",
"## What it checks
That `postgres.password` has at least 12 characters, is not a well-known default
(`password`, `postgres`, `changeme`, the username, …) and is not a placeholder left
from an example (`replace-me`, `example`, `your-password`, `xxxx`, `<password>`, …).
The password is never printed.

## Why
Every workload allowed by `internal_access` can try it.

## Example
    postgres:
      password: password

## Fix
Use a long random password, e.g. `openssl rand -base64 24`.";

    InvalidIdentifier = "C002", "invalid-identifier", Error,
    "A role or database name that PostgreSQL cannot store.",
"## What it checks
That `postgres.username` and `postgres.database` are names PostgreSQL accepts as
quoted identifiers: 1 to 63 bytes (UTF-8), without a NUL character.

## Why
postgres-ha quotes both names everywhere (SQL through psql variables, URLs
percent-encoded), so `my-app` or `svc-App` work as written. PostgreSQL truncates
longer names to 63 bytes, so the role or database created would not be the one named,
and it cannot store a NUL at all.

## Example
    postgres:
      database: a_database_name_that_goes_on_and_on_well_past_the_sixty_three_byte_limit

## Fix
Use a shorter name.";

    ReservedName = "C003", "reserved-name", Error,
    "A role or database name is reserved by PostgreSQL or postgres-ha.",
"## What it checks
That `postgres.username` is not one of the internal roles (`postgres`, `replicator`,
`rewind_user`), not `public` or `none`, and does not start with `pg_`; and that
`postgres.database` is not `postgres`, `template0` or `template1`.

## Why
The internal roles are the separate superuser, replication and rewind roles
postgres-ha creates with their own passwords; PostgreSQL reserves `public`, `none`
and the `pg_` prefix for itself (creating such a role fails, so bootstrap would fail);
the databases exist already.

## Example
    postgres:
      username: postgres

## Fix
Choose an application name, e.g. `app`.";

    InvalidPassword = "C004", "invalid-password", Error,
    "A password PostgreSQL or Patroni cannot use.",
"## What it checks
That `postgres.password` contains no NUL character, and that each password in a
credentials file (`NAME.credentials.yaml`) has 16 to 1000 characters and no control
characters or spaces.

## Why
PostgreSQL stores passwords as C strings, so a NUL cuts the password short and the
role could never log in with the password given; the internal passwords go through
Patroni's `.pgpass` file, one line per entry, where control characters break it, and
etcd's passwords through `etcdctl`, which reads a password up to the first space.
They are generated as 32 random characters; a short one replaced by hand is weak.

## Example
    superuser: x

## Fix
Delete the line (or the file) and render again to generate a new password, or write
a long random one (`openssl rand -base64 24`).";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(seen.insert(code.name()), "duplicate {}", code.name());
            for section in ["## What it checks", "## Why", "## Example", "## Fix"] {
                assert!(
                    code.documentation().contains(section),
                    "{} lacks {section}",
                    code.as_str()
                );
            }
            assert_eq!(Code::lookup(&code.as_str().to_lowercase()), Some(*code));
            assert_eq!(Code::lookup(code.name()), Some(*code));
        }
    }
}
