// Renders the formulas that pymdownx.arithmatex (generic mode) wraps in .arithmatex
// elements, with the KaTeX bundled in assets/katex. document$ is Material's page
// observable, so this also runs after instant navigation.
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    })
  }
})
