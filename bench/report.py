"""Pure parts of the benchmark report: targets, verdicts and Markdown tables (unit-tested)."""
from dataclasses import dataclass, field

CPU_RATIO_TARGET = 1.5  # service CPU per request at most this many times the floor's
AUTH_ROUND_TRIPS = 1  # authentication may add this many round trips to an operation's minimum
FLATNESS_TARGET = 1.3  # cost at the largest size at most this many times the cost at the smallest
FEW_REQUESTS = 20  # fewer completed requests than this: the latency figures are rough
# Fewer served than this and the workers' background CPU (driver monitors, ~1-3 ms/s each) outweighs
# the requests' own: such rows show, and are judged on, handler CPU instead (marked *).
FEW_SERVED = 100


@dataclass
class LoadResult:
    """One wrk run against one app, with the CPU its workers spent."""

    requests: int  # answers received by wrk
    served: int  # requests the workers served, counting those wrk stopped waiting for at the end
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers, timeouts and socket errors
    cpu_s: float  # worker CPU over the run, idle background subtracted
    handler_cpu_s: float = 0.0  # CPU of request threads inside the request hooks only

    @property
    def rate(self):
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def cpu_ms_per_request(self):
        return self.cpu_s * 1000 / self.served if self.served else None

    @property
    def handler_ms_per_request(self):
        return self.handler_cpu_s * 1000 / self.served if self.served else None


def combine(rounds):
    """One LoadResult from alternating rounds of the same load: counts, time and CPU add up; the
    median round's p50 and the worst round's p99 stand for the whole."""
    if len(rounds) == 1:
        return rounds[0]
    p50s = sorted(result.p50_ms for result in rounds)
    return LoadResult(
        requests=sum(result.requests for result in rounds), served=sum(result.served for result in rounds),
        duration_s=sum(result.duration_s for result in rounds), p50_ms=p50s[len(p50s) // 2],
        p99_ms=max(result.p99_ms for result in rounds), errors=sum(result.errors for result in rounds),
        cpu_s=sum(result.cpu_s for result in rounds), handler_cpu_s=sum(result.handler_cpu_s for result in rounds),
    )


@dataclass
class OperationResult:
    key: str
    label: str
    min_round_trips: int | None
    not_built: str | None = None
    service: LoadResult | None = None
    floor: LoadResult | None = None
    round_trips: float | None = None
    commands: dict = field(default_factory=dict)  # "command collection" -> times per request
    docs_per_result: float | None = None
    keys_per_result: float | None = None
    same_result: bool | None = None  # the floor answered the same records as the service
    notes: list = field(default_factory=list)

    @property
    def judged_on_handler(self):
        loads = [load for load in (self.service, self.floor) if load is not None]
        return bool(loads) and min(load.served for load in loads) < FEW_SERVED

    def cpu_per_request(self, load):
        """The CPU figure this row is judged on: worker CPU, or handler CPU for rows with few requests."""
        if load is None:
            return None
        return load.handler_ms_per_request if self.judged_on_handler else load.cpu_ms_per_request

    @property
    def cpu_ratio(self):
        return ratio(self.cpu_per_request(self.service), self.cpu_per_request(self.floor))



def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def cpu_verdict(value, target=CPU_RATIO_TARGET):
    """'ok', or how far the service's CPU per request is over `target` times the floor's."""
    if value is None:
        return "n/a"
    if value <= target:
        return "ok"
    return f"MISS cpu {value:.2f}x floor (+{(value / target - 1) * 100:.0f}% over {target:g}x)"


def round_trip_verdict(measured, minimum, allowance=AUTH_ROUND_TRIPS):
    """'ok' when `measured` round trips per request are within the operation's minimum plus auth."""
    if measured is None or minimum is None:
        return "n/a"
    limit = minimum + allowance
    if measured <= limit + 1e-9:
        return "ok"
    return f"MISS round trips {format_number(measured)} (+{format_number(measured - limit)} over {limit})"


def flatness_verdict(small, large, target=FLATNESS_TARGET, what="cpu"):
    """'ok' when the cost at the larger size is at most `target` times the cost at the smaller."""
    value = ratio(large, small)
    if value is None:
        return "n/a"
    if value <= target:
        return f"ok ({value:.2f}x)"
    return f"MISS {what} {value:.2f}x (+{(value / target - 1) * 100:.0f}% over {target:g}x)"


def format_number(value, digits=1):
    """Compact numbers for tables: None is '-', whole numbers lose their decimals."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}"
    return str(int(value))


def format_ms(value):
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def render_table(headers, rows):
    """A Markdown pipe table with padded columns (readable as plain text too)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(values):
        return "| " + " | ".join(value.ljust(widths[i]) for i, value in enumerate(values)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(headers), separator, *(line(row) for row in cells)])


MAIN_HEADERS = ("operation", "req/s", "p50 ms", "p99 ms", "CPU ms/req service", "CPU ms/req floor", "ratio",
                "round trips (min+auth)", "docs examined/result", "verdicts")


def main_row(result):
    if result.not_built:
        return [result.label, *["-"] * (len(MAIN_HEADERS) - 2), f"skipped: {result.not_built}"]
    service, floor = result.service, result.floor
    verdicts = [cpu_verdict(result.cpu_ratio),
                round_trip_verdict(result.round_trips, result.min_round_trips)]
    if service and service.errors:
        verdicts.append(f"{service.errors} service errors")
    if floor and floor.errors:
        verdicts.append(f"{floor.errors} floor errors")
    if result.same_result is False:
        verdicts.append("floor answered other records")
    shown = [verdict for verdict in verdicts if verdict not in ("ok", "n/a")] or ["ok"]
    requests = service.requests if service else 0
    rate = "-" if service is None else f"{service.rate:.1f}" + (f" (n={requests})" if requests < FEW_REQUESTS else "")
    limit = "-" if result.min_round_trips is None else str(result.min_round_trips + AUTH_ROUND_TRIPS)
    mark = "*" if result.judged_on_handler else ""
    return [
        result.label,
        rate,
        format_ms(service.p50_ms if service else None),
        format_ms(service.p99_ms if service else None),
        format_ms(result.cpu_per_request(service)) + mark,
        format_ms(result.cpu_per_request(floor)) + mark,
        "-" if result.cpu_ratio is None else f"{result.cpu_ratio:.2f}{mark}",
        f"{format_number(result.round_trips)} ({limit})",
        format_number(result.docs_per_result),
        "; ".join(shown),
    ]


FLOOR_HEADERS = ("operation", "floor req/s", "floor p50 ms", "floor p99 ms", "service answered/served",
                 "floor answered/served", "worker CPU ms/req service / floor (ratio)",
                 "handler CPU ms/req service / floor (ratio)", "floor same records", "keys examined/result",
                 "commands per service request")


def floor_row(result):
    floor = result.floor
    commands = ", ".join(f"{name} x{format_number(count)}" for name, count in result.commands.items())
    return [
        result.label,
        "-" if floor is None else f"{floor.rate:.1f}",
        format_ms(floor.p50_ms if floor else None),
        format_ms(floor.p99_ms if floor else None),
        "-" if result.service is None else f"{result.service.requests}/{result.service.served}",
        "-" if floor is None else f"{floor.requests}/{floor.served}",
        cpu_cell(result.service and result.service.cpu_ms_per_request,
                 result.floor and result.floor.cpu_ms_per_request),
        cpu_cell(result.service and result.service.handler_ms_per_request,
                 result.floor and result.floor.handler_ms_per_request),
        {True: "yes", False: "NO", None: "-"}[result.same_result],
        format_number(result.keys_per_result),
        commands or "-",
    ]


def cpu_cell(service, floor):
    value = ratio(service, floor)
    return f"{format_ms(service)} / {format_ms(floor)} ({'-' if value is None else f'{value:.2f}'})"


FLATNESS_HEADERS = ("operation", "CPU ms/req small", "CPU ms/req large", "CPU verdict", "docs/result small",
                    "docs/result large", "docs verdict")


def flatness_row(label, small, large):
    """Compare one operation at the smallest and the largest size (OperationResult each), on handler CPU
    when either size has few requests."""
    few = small.judged_on_handler or large.judged_on_handler
    cpu_small, cpu_large = (
        (load.handler_ms_per_request if few else load.cpu_ms_per_request) if load else None
        for load in (small.service, large.service)
    )
    return [
        label,
        format_ms(cpu_small), format_ms(cpu_large), flatness_verdict(cpu_small, cpu_large, what="cpu"),
        format_number(small.docs_per_result), format_number(large.docs_per_result),
        flatness_verdict(small.docs_per_result, large.docs_per_result, what="docs examined"),
    ]
