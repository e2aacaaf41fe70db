/** Reports: the period report per currency (built on the finance procedures). */
export function Reports() {
  return (
    <section aria-labelledby="reports-title">
      <h2 id="reports-title">Reports</h2>
      <p>Reports arrive with the finance procedures.</p>
    </section>
  );
}
