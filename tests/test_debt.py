"""Tests for gpucredit.debt.

Oracles: numpy-financial (pmt, ipmt, ppmt, npv) for annuities and present values,
hand-worked examples with the arithmetic in the test, closed forms (bullet WAL = tenor,
straight-line WAL = (T + 1) / 2m) and hypothesis properties (balances end at 0, principal
sums to the debt and is never negative for standard kinds, a portfolio equals its
facilities stacked). Warnings are errors: no division by zero may leak out.
"""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gpucredit.debt import (
    DebtSchedule,
    debt_capacity,
    floating_rate,
    schedule,
    sculpt,
    size_debt,
    wal,
)
from gpucredit.errors import GpuCreditError

pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = settings(max_examples=60, deadline=None)

# --------------------------------------------------------------------------- strategies

frequencies = st.sampled_from([1, 2, 4, 12])
amounts = st.floats(1.0, 1e9, allow_nan=False, allow_infinity=False)
annual_rates = st.floats(0.001, 0.25, allow_nan=False, allow_infinity=False)
kinds = st.sampled_from(["annuity", "straight_line", "bullet", "custom"])


@st.composite
def loans(draw, *, with_draws=True):
    """One loan: kind, amount, tenor, start, rate (flat or a path), draws and weights."""
    n = draw(st.integers(1, 40))
    m = draw(frequencies)
    kind = draw(kinds)
    start = draw(st.integers(1, n))
    path = draw(st.booleans())
    rate = (np.array(draw(st.lists(annual_rates, min_size=n, max_size=n))) if path
            else draw(annual_rates))
    draws = None
    if with_draws and draw(st.booleans()):
        draws = np.zeros(n)
        for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
            draws[i] += draw(st.floats(0.0, 1e8))
    amount = draw(st.floats(0.0 if draws is not None else 1.0, 1e9))
    weights = None
    if kind == "custom":
        weights = np.zeros(n)
        weights[start - 1:] = draw(st.lists(st.floats(0.0, 10.0), min_size=n - start + 1,
                                            max_size=n - start + 1))
        weights[-1] += 1.0  # a balloon keeps the total positive
        if draws is not None:  # repay only once everything is drawn
            last_draw = int(np.flatnonzero(draws)[-1]) if draws.any() else 0
            weights[:last_draw] = 0.0
            weights[-1] += 1.0
    return {"amount": amount, "annual_rate": rate, "n_periods": n, "periods_per_year": m,
            "kind": kind, "amortization_start": start, "draws": draws, "principal": weights}


def _run(loan: dict) -> DebtSchedule:
    return schedule(loan["amount"], loan["annual_rate"], loan["n_periods"],
                    loan["periods_per_year"], loan["kind"], principal=loan["principal"],
                    draws=loan["draws"], amortization_start=loan["amortization_start"])


def _identities(s: DebtSchedule, annual_rate, m) -> None:
    """Accounting identities every schedule must satisfy."""
    scale = max(1.0, float(np.max(np.abs(s.opening + s.draw))))
    np.testing.assert_allclose(s.closing, s.opening + s.draw - s.principal, atol=1e-9 * scale)
    np.testing.assert_allclose(s.debt_service, s.interest + s.principal, atol=1e-9 * scale)
    np.testing.assert_allclose(s.interest, np.asarray(annual_rate) / m * (s.opening + s.draw),
                               atol=1e-9 * scale)
    np.testing.assert_array_equal(s.opening[..., 1:], s.closing[..., :-1])


# --------------------------------------------------------------------------- floating_rate


class TestFloatingRate:
    def test_floor_applies_to_the_base_rate(self):
        # max(-1%, 0%) + 6.5% = 6.5%; max(0%, 0%) + 6.5% = 6.5%; max(2%, 0%) + 6.5% = 8.5%
        out = floating_rate([-0.01, 0.0, 0.02], 0.065)
        np.testing.assert_allclose(out, [0.065, 0.065, 0.085], rtol=0, atol=1e-15)

    def test_floor_above_zero(self):
        # a 1% floor: SOFR 0.5% pays 1% + 4.5% = 5.5%; SOFR 4.3% pays 8.8%
        np.testing.assert_allclose(floating_rate([0.005, 0.043], 0.045, floor=0.01),
                                   [0.055, 0.088], atol=1e-15)

    def test_no_floor(self):
        assert floating_rate(-0.01, 0.02, floor=None) == pytest.approx(0.01)

    def test_scalar_in_scalar_out(self):
        out = floating_rate(0.043, 0.0625)
        assert isinstance(out, float)
        assert out == pytest.approx(0.1055)

    def test_shared_path_and_per_facility_spreads(self):
        sofr = np.array([0.043, 0.02, -0.003])
        spreads = np.array([0.0225, 0.06, 0.13])
        out = floating_rate(sofr, spreads)
        assert out.shape == (3, 3)
        np.testing.assert_allclose(out, np.maximum(sofr, 0)[None, :] + spreads[:, None])

    def test_scalar_base_per_facility_spread_gives_one_rate_per_facility(self):
        np.testing.assert_allclose(floating_rate(0.04, [0.02, 0.03]), [0.06, 0.07])

    def test_facilities_must_agree(self):
        with pytest.raises(GpuCreditError, match="base_rate has 2 facilities but spread has 3"):
            floating_rate(np.zeros((2, 4)), [0.01, 0.02, 0.03])

    def test_nan_base_refused(self):
        with pytest.raises(GpuCreditError, match=r"base_rate must be a finite number, got nan"):
            floating_rate([0.04, np.nan], 0.02)


# --------------------------------------------------------------------------- annuity


class TestAnnuity:
    @SETTINGS
    @given(amounts, annual_rates, st.integers(1, 30), frequencies)
    def test_matches_numpy_financial(self, amount, rate, years, m):
        # Tenors up to 30 years: beyond, npf.ipmt's own cancellation error (it works
        # through (1 + r)^t) exceeds these tolerances; see test_exact_arithmetic.
        n = years * m
        s = schedule(amount, rate, n, m)
        r = rate / m
        per = np.arange(1, n + 1)
        atol = 1e-9 * amount
        np.testing.assert_allclose(s.debt_service, npf.pmt(r, n, -amount), rtol=1e-10, atol=atol)
        np.testing.assert_allclose(s.interest, -npf.ipmt(r, per, n, amount), rtol=1e-9, atol=atol)
        np.testing.assert_allclose(s.principal, -npf.ppmt(r, per, n, amount), rtol=1e-9,
                                   atol=atol)
        assert s.closing[-1] == 0.0

    def test_exact_arithmetic(self):
        # Oracle in exact rational arithmetic: 84 years at 25%, where (1 + r)^n ~ 1.4e8.
        from fractions import Fraction

        r, n, balance = Fraction(1, 4), 84, Fraction(1_000_000)
        payment = balance * r / (1 - (1 + r) ** -n)
        principal = []
        for _ in range(n):
            principal.append(payment - balance * r)
            balance -= principal[-1]
        s = schedule(1e6, 0.25, n, 1)
        np.testing.assert_allclose(s.principal, [float(p) for p in principal], rtol=0,
                                   atol=1e-8)
        assert s.debt_service[0] == pytest.approx(float(payment), rel=1e-15)

    def test_textbook_example(self):
        # $1,000 at 12% a year, monthly, for a year: payment
        # 1000 x 0.01 / (1 - 1.01^-12) = 88.8488 (any annuity table)
        s = schedule(1000.0, 0.12, 12, 12)
        assert s.debt_service[0] == pytest.approx(1000 * 0.01 / (1 - 1.01 ** -12))
        assert s.debt_service[0] == pytest.approx(88.8488, abs=1e-4)
        assert s.interest[0] == pytest.approx(10.0)          # 1% of 1,000
        assert s.principal[0] == pytest.approx(78.8488, abs=1e-4)

    def test_zero_rate_repays_in_equal_parts(self):
        s = schedule(1200.0, 0.0, 12, 12)
        np.testing.assert_allclose(s.principal, 100.0)
        np.testing.assert_array_equal(s.interest, 0.0)

    @SETTINGS
    @given(st.lists(st.tuples(amounts, annual_rates, st.integers(1, 30)), min_size=1,
                    max_size=5), frequencies)
    def test_portfolio_rows_match_numpy_financial(self, loans_, m):
        amount, rate, tenor = (np.array(x) for x in zip(*loans_, strict=True))
        s = schedule(amount, rate, tenor, m)
        n_t = int(tenor.max())
        assert s.debt_service.shape == (len(loans_), n_t)
        for f, (a, r, n) in enumerate(loans_):
            per = np.arange(1, n + 1)
            np.testing.assert_allclose(s.debt_service[f, :n], npf.pmt(r / m, n, -a), rtol=1e-10)
            np.testing.assert_allclose(s.interest[f, :n], -npf.ipmt(r / m, per, n, a),
                                       rtol=1e-9, atol=1e-9 * a)
            np.testing.assert_array_equal(s.debt_service[f, n:], 0.0)
            assert s.closing[f, n - 1] == 0.0

    def test_interest_only_then_annuity_on_remaining_periods(self):
        # 12 interest-only months at 1%, then 48 level payments on the full balance
        s = schedule(1e6, 0.12, 60, 12, amortization_start=13)
        np.testing.assert_array_equal(s.principal[:12], 0.0)
        np.testing.assert_allclose(s.interest[:12], 10_000.0)
        np.testing.assert_allclose(s.debt_service[12:], npf.pmt(0.01, 48, -1e6), rtol=1e-12)
        assert s.closing[-1] == 0.0

    def test_constant_rate_path_equals_flat_rate(self):
        # The re-levelling recursion (used for paths) must reproduce the closed form.
        flat = schedule([5e5, 2e6], [0.07, 0.11], [36, 24], 12, amortization_start=[4, 1])
        path = schedule([5e5, 2e6], np.repeat([[0.07], [0.11]], 36, axis=1), [36, 24], 12,
                        amortization_start=[4, 1])
        for name in ("opening", "interest", "principal", "debt_service", "closing"):
            np.testing.assert_allclose(getattr(path, name), getattr(flat, name), rtol=1e-10,
                                       atol=1e-6)

    @SETTINGS
    @given(amounts, st.lists(annual_rates, min_size=2, max_size=40), frequencies)
    def test_floating_rate_relevels_each_period(self, amount, rates, m):
        # Oracle: each period's payment is npf.pmt at that period's rate over the
        # periods left, on the balance the previous period left.
        n = len(rates)
        s = schedule(amount, np.array(rates), n, m)
        balance = amount
        for t, rate in enumerate(rates):
            payment = npf.pmt(rate / m, n - t, -balance)
            assert s.debt_service[t] == pytest.approx(payment, rel=1e-9, abs=1e-6)
            balance = balance * (1 + rate / m) - payment
        assert s.closing[-1] == 0.0

    def test_floating_rate_from_floating_rate_function(self):
        sofr = np.array([0.05, 0.045, -0.002, 0.03])
        rate = floating_rate(sofr, 0.065)  # 11.5%, 11%, 6.5% (floored), 9.5%
        s = schedule(400.0, rate, 4, 1)
        # period 1: 400 x 0.115 = 46 interest; level payment over 4 years at 11.5%
        assert s.interest[0] == pytest.approx(46.0)
        assert s.debt_service[0] == pytest.approx(npf.pmt(0.115, 4, -400.0))
        assert s.closing[-1] == 0.0


# --------------------------------------------------------------------------- other kinds


class TestStraightLine:
    def test_hand_worked(self):
        # 1,200 over 12 months at 12%: principal 100 a month, interest 1% of the opening
        # balance: 12, 11, ..., 1.
        s = schedule(1200.0, 0.12, 12, 12, "straight_line")
        np.testing.assert_allclose(s.principal, 100.0)
        np.testing.assert_allclose(s.interest, np.arange(12, 0, -1), atol=1e-12)
        assert s.closing[-1] == 0.0

    def test_wal_closed_form(self):
        # level principal over T periods: WAL = (T + 1) / (2m) = 61 / 24 years
        s = schedule(1e6, 0.09, 60, 12, "straight_line")
        assert s.wal == pytest.approx(61 / 24)

    def test_interest_only_period(self):
        s = schedule(900.0, 0.10, 5, 1, "straight_line", amortization_start=3)
        np.testing.assert_allclose(s.principal, [0, 0, 300, 300, 300])
        np.testing.assert_allclose(s.interest, [90, 90, 90, 60, 30])


class TestBullet:
    def test_hand_worked(self):
        # $100m at 9% paid semi-annually: 4.5m coupons, principal at the end
        s = schedule(100e6, 0.09, 10, 2, "bullet")
        np.testing.assert_allclose(s.interest, 4.5e6)
        np.testing.assert_array_equal(s.principal[:-1], 0.0)
        assert s.principal[-1] == 100e6
        assert s.closing[-1] == 0.0

    @SETTINGS
    @given(amounts, annual_rates, st.integers(1, 120), frequencies)
    def test_wal_equals_tenor(self, amount, rate, n, m):
        assert schedule(amount, rate, n, m, "bullet").wal == pytest.approx(n / m)


class TestCustom:
    def test_fractions_and_amounts_agree(self):
        by_fraction = schedule(1000.0, 0.08, 4, 1, "custom", principal=[0.1, 0.2, 0.3, 0.4])
        by_amount = schedule(1000.0, 0.08, 4, 1, "custom", principal=[100, 200, 300, 400])
        np.testing.assert_allclose(by_fraction.principal, [100, 200, 300, 400])
        np.testing.assert_allclose(by_amount.principal, by_fraction.principal)
        # interest on 1000, 900, 700, 400 at 8%
        np.testing.assert_allclose(by_fraction.interest, [80, 72, 56, 32])

    def test_rising_amortisation_with_balloon(self):
        # A TeraWulf/Fluidstack-like profile: amortisation rising 19 -> 85, balloon at the end
        amort = np.array([19.0, 30.0, 45.0, 60.0, 85.0])
        debt = 1000.0
        weights = amort.copy()
        weights[-1] += debt - amort.sum()  # 85 + (1000 - 239) = 846 balloon
        s = schedule(debt, 0.08, 5, 1, "custom", principal=weights)
        np.testing.assert_allclose(s.principal[:-1], amort[:-1])
        assert s.principal[-1] == pytest.approx(846.0)
        assert s.closing[-1] == 0.0

    def test_repaying_before_drawing_is_refused(self):
        draws = [0.0, 0.0, 100.0]
        with pytest.raises(GpuCreditError, match=r"principal repays more than has been drawn"):
            schedule(0.0, 0.05, 3, 1, "custom", principal=[1.0, 0.0, 0.0], draws=draws)


# --------------------------------------------------------------------------- delayed draws


class TestDraws:
    def test_balance_builds_and_interest_is_on_drawn_only(self):
        # 100, 200, 300 drawn at the start of months 1-3 at 1% a month, interest-only until
        # month 4, then a 21-month annuity on 600.
        d = np.zeros(24)
        d[:3] = [100.0, 200.0, 300.0]
        s = schedule(0.0, 0.12, 24, 12, draws=d, amortization_start=4)
        np.testing.assert_allclose(s.interest[:3], [1.0, 3.0, 6.0])  # 1% of 100, 300, 600
        np.testing.assert_allclose(s.closing[:3], [100.0, 300.0, 600.0])
        np.testing.assert_allclose(s.debt_service[3:], npf.pmt(0.01, 21, -600.0), rtol=1e-12)
        assert s.closing[-1] == 0.0
        assert s.debt == pytest.approx(600.0)
        assert s.principal.sum() == pytest.approx(600.0)

    def test_straight_line_draw_during_amortisation(self):
        # 400 repaid over 4 years (100 a year); 90 drawn at the start of year 3 is repaid
        # over the 2 years left: 45 a year on top.
        s = schedule(400.0, 0.10, 4, 1, "straight_line", draws=[0.0, 0.0, 90.0, 0.0])
        np.testing.assert_allclose(s.principal, [100.0, 100.0, 145.0, 145.0])
        # interest: 10% of 400, 300, 200 + 90, 145
        np.testing.assert_allclose(s.interest, [40.0, 30.0, 29.0, 14.5])
        assert s.closing[-1] == 0.0

    def test_annuity_draw_during_amortisation_relevels(self):
        # Oracle: after the draw, the payment is npf.pmt over the periods left.
        s = schedule(1000.0, 0.06, 6, 1, draws=[0, 0, 500.0, 0, 0, 0])
        b2 = s.closing[1]
        assert s.debt_service[2] == pytest.approx(npf.pmt(0.06, 4, -(b2 + 500.0)))
        assert s.closing[-1] == 0.0

    def test_draws_after_maturity_refused(self):
        with pytest.raises(GpuCreditError,
                           match=r"draws must be zero after maturity \(n_periods\), got 5 "
                                 r"\(period 4\)"):
            schedule(0.0, 0.05, 3, 1, draws=[1.0, 0.0, 0.0, 5.0])


# --------------------------------------------------------------------------- properties


class TestProperties:
    @SETTINGS
    @given(loans())
    def test_balance_ends_at_zero_and_principal_sums_to_debt(self, loan):
        s = _run(loan)
        debt = loan["amount"] + (0.0 if loan["draws"] is None else loan["draws"].sum())
        n = loan["n_periods"]
        assert s.closing[n - 1] == 0.0
        assert s.principal.sum() == pytest.approx(debt, rel=1e-9, abs=1e-6)
        assert s.debt == pytest.approx(debt, rel=1e-12)
        _identities(s, loan["annual_rate"], loan["periods_per_year"])

    @SETTINGS
    @given(loans())
    def test_principal_never_negative(self, loan):
        s = _run(loan)
        assert (s.principal >= 0).all()
        assert (s.closing >= -1e-9 * max(1.0, s.debt)).all()

    @SETTINGS
    @given(st.lists(loans(with_draws=False), min_size=1, max_size=4), kinds, frequencies)
    def test_portfolio_equals_facilities_stacked(self, loans_, kind, m):
        assume(kind != "custom")
        horizon = max(loan["n_periods"] for loan in loans_)
        amount = np.array([loan["amount"] for loan in loans_])
        rate = np.array([np.mean(loan["annual_rate"]) for loan in loans_])
        tenor = np.array([loan["n_periods"] for loan in loans_])
        start = np.array([loan["amortization_start"] for loan in loans_])
        together = schedule(amount, rate, tenor, m, kind, amortization_start=start,
                            horizon=horizon)
        for f in range(len(loans_)):
            alone = schedule(amount[f], rate[f], tenor[f], m, kind,
                             amortization_start=start[f], horizon=horizon)
            for name in ("opening", "interest", "principal", "debt_service", "closing"):
                np.testing.assert_array_equal(getattr(together, name)[f], getattr(alone, name))

    @SETTINGS
    @given(st.integers(1, 6), st.integers(1, 24), frequencies, kinds)
    def test_portfolio_with_rate_paths_equals_stacked(self, n_fac, n, m, kind):
        rng = np.random.default_rng(n_fac * 100 + n)
        amount = rng.uniform(1e3, 1e7, n_fac)
        rates = rng.uniform(0.0, 0.2, (n_fac, n))
        draws = rng.uniform(0, 1e5, (n_fac, n)) * (rng.uniform(size=(n_fac, n)) < 0.3)
        draws[:, -1] = 0.0
        weights = np.tile(np.linspace(1.0, 2.0, n), (n_fac, 1)) if kind == "custom" else None
        if kind == "custom":
            draws[:] = 0.0
        together = schedule(amount, rates, n, m, kind, draws=draws, principal=weights)
        for f in range(n_fac):
            alone = schedule(amount[f], rates[f], n, m, kind, draws=draws[f],
                             principal=None if weights is None else weights[f])
            np.testing.assert_allclose(together.debt_service[f], alone.debt_service,
                                       rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(together.closing[f], alone.closing, rtol=1e-12,
                                       atol=1e-9)


# --------------------------------------------------------------------------- frames


class TestToFrame:
    def test_single_facility(self):
        frame = schedule(300.0, 0.10, 3, 1, "straight_line").to_frame()
        assert list(frame.columns) == ["period", "opening_balance", "draw", "interest",
                                       "principal", "debt_service", "closing_balance"]
        assert frame["period"].tolist() == [1, 2, 3]
        np.testing.assert_allclose(frame["debt_service"], [130.0, 120.0, 110.0])

    def test_portfolio_long_format(self):
        s = schedule([300.0, 600.0], 0.10, 3, 1, "straight_line")
        frame = s.to_frame()
        assert list(frame.columns[:2]) == ["facility", "period"]
        assert frame["facility"].tolist() == [1, 1, 1, 2, 2, 2]
        assert frame["period"].tolist() == [1, 2, 3, 1, 2, 3]
        np.testing.assert_allclose(frame.loc[frame.facility == 2, "principal"], 200.0)
        assert isinstance(frame, pd.DataFrame)


# --------------------------------------------------------------------------- sculpting


class TestSculpt:
    CFADS = np.array([120.0, 150.0, 90.0, 200.0, 160.0])

    def test_every_dscr_equals_target(self):
        s = sculpt(self.CFADS, 0.08, 1.3, 1)
        np.testing.assert_allclose(self.CFADS / s.debt_service, 1.3, rtol=1e-12)
        assert s.closing[-1] == 0.0

    def test_capacity_is_npv_of_debt_service(self):
        # npf.npv discounts its first value at t = 0: prepend 0 for end-of-period flows.
        expected = npf.npv(0.08 / 4, np.r_[0.0, self.CFADS / 1.25])
        assert debt_capacity(self.CFADS, 0.08, 1.25, 4) == pytest.approx(expected, rel=1e-12)
        assert sculpt(self.CFADS, 0.08, 1.25, 4).debt == pytest.approx(expected, rel=1e-12)

    def test_hand_worked(self):
        # CFADS 120 and 240, 1.2x, 10%: DS 100 and 200; capacity 100/1.1 + 200/1.21
        # = 90.909 + 165.289 = 256.198; interest 25.620, principal 74.380, then
        # balance 181.818 = 200/1.1.
        s = sculpt([120.0, 240.0], 0.10, 1.2, 1)
        assert s.debt == pytest.approx(100 / 1.1 + 200 / 1.21)
        assert s.interest[0] == pytest.approx(0.1 * (100 / 1.1 + 200 / 1.21))
        assert s.closing[0] == pytest.approx(200 / 1.1)
        np.testing.assert_allclose(s.debt_service, [100.0, 200.0], rtol=1e-14)

    def test_opening_balance_is_pv_of_remaining_debt_service(self):
        s = sculpt(self.CFADS, 0.09, 1.4, 2)
        for t in range(len(self.CFADS)):
            pv = npf.npv(0.09 / 2, np.r_[0.0, s.debt_service[t:]])
            assert s.opening[t] == pytest.approx(pv, rel=1e-12)

    def test_llcr_equals_target_at_every_period(self):
        # LLCR_t = PV of CFADS from t to maturity / balance at t (docs/sources.md identity)
        s = sculpt(self.CFADS, 0.07, 1.35, 12)
        for t in range(len(self.CFADS)):
            pv_cfads = npf.npv(0.07 / 12, np.r_[0.0, self.CFADS[t:]])
            assert pv_cfads / s.opening[t] == pytest.approx(1.35, rel=1e-12)

    def test_rate_path_discounts_with_running_product(self):
        rates = np.array([0.05, 0.10, 0.20])
        cf = np.array([110.0, 110.0, 110.0])
        # DS = 100 each year; capacity = 100/1.05 + 100/(1.05 x 1.10)
        #   + 100/(1.05 x 1.10 x 1.20) = 95.238 + 86.580 + 72.150
        expected = 100 / 1.05 + 100 / (1.05 * 1.10) + 100 / (1.05 * 1.10 * 1.20)
        s = sculpt(cf, rates, 1.1, 1)
        assert s.debt == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(s.interest, rates * s.opening)
        assert s.closing[-1] == 0.0

    def test_negative_cfads_pays_nothing_and_capitalises(self):
        cf = np.array([100.0, -50.0, 100.0])
        s = sculpt(cf, 0.10, 1.25, 1)
        assert s.debt_service[1] == 0.0
        assert s.principal[1] == pytest.approx(-s.interest[1])
        assert s.closing[1] > s.opening[1]
        np.testing.assert_allclose(s.debt_service[[0, 2]], 80.0)
        assert s.closing[-1] == 0.0

    def test_portfolio_equals_stacked(self):
        cf = np.array([[120.0, 130.0, 140.0], [50.0, 0.0, 80.0]])
        together = sculpt(cf, [0.08, 0.12], [1.2, 1.5], 4)
        for f, (rate, target) in enumerate([(0.08, 1.2), (0.12, 1.5)]):
            alone = sculpt(cf[f], rate, target, 4)
            np.testing.assert_allclose(together.debt_service[f], alone.debt_service)
            np.testing.assert_allclose(together.opening[f], alone.opening)

    def test_smaller_amount_keeps_the_shape(self):
        full = sculpt(self.CFADS, 0.08, 1.3, 1)
        half = sculpt(self.CFADS, 0.08, 1.3, 1, amount=full.debt / 2)
        np.testing.assert_allclose(self.CFADS / half.debt_service, 2.6, rtol=1e-12)
        assert half.closing[-1] == 0.0

    @SETTINGS
    # Subnormal CFADS (5e-324 USD) underflow to zero debt service: not a real cash flow.
    @given(st.lists(st.floats(-100.0, 1e6, allow_subnormal=False), min_size=1, max_size=40),
           annual_rates, st.floats(1.0, 3.0), frequencies)
    def test_properties(self, cf, rate, target, m):
        cf = np.array(cf)
        s = sculpt(cf, rate, target, m)
        assert s.closing[-1] == 0.0
        assert (s.debt_service >= 0).all()
        positive = cf > 0
        np.testing.assert_allclose(cf[positive] / s.debt_service[positive], target, rtol=1e-12)
        _identities(s, rate, m)

    def test_target_must_be_positive(self):
        with pytest.raises(GpuCreditError, match=r"target_dscr must be > 0, got 0"):
            sculpt([1.0, 2.0], 0.05, 0.0, 1)
        with pytest.raises(GpuCreditError, match=r"target_dscr must be > 0, got -1 \(position 2\)"):
            debt_capacity([[1.0, 2.0], [1.0, 2.0]], 0.05, [1.2, -1.0], 1)

    def test_amount_without_capacity_refused(self):
        with pytest.raises(GpuCreditError, match="debt capacity is 0"):
            sculpt([-1.0, 0.0], 0.05, 1.2, 1, amount=10.0)

    def test_rate_path_must_cover_the_periods(self):
        with pytest.raises(GpuCreditError, match=r"annual_rate has 2 values"):
            sculpt(np.ones((3, 4)), [0.05, 0.06], 1.2, 1)


class TestSizeDebt:
    def test_capacity_binds(self):
        # capacity 100/1.1 + 100/1.21 = 173.55 < 0.8 x 300 = 240
        assert size_debt(300.0, 0.8, [120.0, 120.0], 0.10, 1.2, 1) == pytest.approx(
            100 / 1.1 + 100 / 1.21)

    def test_advance_rate_binds(self):
        # 0.8 x 200 = 160 < 173.55
        assert size_debt(200.0, 0.8, [120.0, 120.0], 0.10, 1.2, 1) == pytest.approx(160.0)

    def test_portfolio(self):
        out = size_debt([300.0, 200.0], 0.8, np.array([[120.0, 120.0], [120.0, 120.0]]),
                        0.10, 1.2, 1)
        np.testing.assert_allclose(out, [100 / 1.1 + 100 / 1.21, 160.0])

    def test_advance_rate_above_one_refused(self):
        with pytest.raises(GpuCreditError, match=r"advance_rate must be between 0 and 1, got 1.2"):
            size_debt(100.0, 1.2, [10.0], 0.1, 1.2, 1)


# --------------------------------------------------------------------------- WAL


class TestWal:
    @SETTINGS
    @given(st.integers(1, 360), frequencies)
    def test_level_principal(self, n, m):
        assert wal(np.full(n, 7.0), m) == pytest.approx((n + 1) / (2 * m))

    def test_hand_worked(self):
        # (1 x 10 + 2 x 20 + 3 x 70) / 100 = 2.6 periods = 0.65 years quarterly
        assert wal([10.0, 20.0, 70.0], 4) == pytest.approx(0.65)

    def test_zero_principal_is_nan(self):
        assert np.isnan(wal([0.0, 0.0, 0.0], 12))

    def test_portfolio(self):
        out = wal(np.array([[0.0, 0.0, 5.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), 1)
        np.testing.assert_allclose(out, [3.0, 2.0, np.nan])


# --------------------------------------------------------------------------- errors


class TestErrors:
    def test_negative_amount(self):
        with pytest.raises(GpuCreditError, match=r"amount must be >= 0, got -5"):
            schedule(-5.0, 0.05, 12, 12)

    def test_unknown_kind(self):
        with pytest.raises(GpuCreditError, match=r"kind must be one of 'annuity', "
                                                 r"'straight_line', 'bullet', 'custom', "
                                                 r"got 'balloon'"):
            schedule(100.0, 0.05, 12, 12, "balloon")

    def test_fractional_tenor(self):
        with pytest.raises(GpuCreditError,
                           match=r"n_periods must be a whole number of periods, got 2.5 "
                                 r"\(facility 2\)"):
            schedule([1.0, 1.0], 0.05, [3, 2.5], 1)

    def test_start_after_maturity(self):
        with pytest.raises(GpuCreditError,
                           match=r"amortization_start must be between 1 and n_periods, got 13"):
            schedule(100.0, 0.05, 12, 12, amortization_start=13)

    def test_principal_needs_custom(self):
        with pytest.raises(GpuCreditError, match=r"kind='custom' and only then"):
            schedule(100.0, 0.05, 3, 1, "annuity", principal=[1, 1, 1])
        with pytest.raises(GpuCreditError, match=r"got kind='custom' without principal"):
            schedule(100.0, 0.05, 3, 1, "custom")

    def test_custom_weights_outside_amortisation(self):
        with pytest.raises(GpuCreditError,
                           match=r"principal must be zero before amortization_start and "
                                 r"after n_periods, got 1 \(period 1\)"):
            schedule(100.0, 0.05, 3, 1, "custom", principal=[1, 1, 1], amortization_start=2)

    def test_draws_of_another_length(self):
        with pytest.raises(GpuCreditError,
                           match=r"the schedule has 12 periods but draws has 10"):
            schedule(0.0, 0.05, 12, 12, draws=np.ones(10), horizon=12)

    def test_rate_path_of_another_length(self):
        with pytest.raises(GpuCreditError, match=r"annual_rate has 5 periods but draws has 4|"
                                                 r"draws has 4 periods but annual_rate has 5"):
            schedule(0.0, np.full((1, 5), 0.05), 4, 1, draws=np.ones(4))

    def test_facilities_disagree(self):
        with pytest.raises(GpuCreditError, match=r"amount has 2 facilities but n_periods has 3"):
            schedule([1.0, 2.0], 0.05, [3, 3, 3], 1)

    def test_tenor_longer_than_horizon(self):
        with pytest.raises(GpuCreditError, match=r"n_periods must be at most the number of "
                                                 r"periods in the schedule \(6\), got 12"):
            schedule(1.0, 0.05, 12, 12, horizon=6)

    def test_bad_frequency(self):
        with pytest.raises(GpuCreditError, match=r"periods_per_year must be one of 1, 2, 4, 12"):
            schedule(1.0, 0.05, 12, 52)

    def test_rate_at_or_below_minus_100_percent(self):
        with pytest.raises(GpuCreditError, match=r"annual_rate must be > -12, got -12"):
            schedule(1.0, -12.0, 12, 12)

    def test_per_period_rate_with_one_period_a_year(self):
        # The Excel layer passes per-period rates with periods_per_year=1.
        per_period = schedule(1000.0, 0.01, 12, 1)
        annual = schedule(1000.0, 0.12, 12, 12)
        np.testing.assert_allclose(per_period.debt_service, annual.debt_service)
