"""SES receiving, emulated: an SMTP front, the receipt rules of the template, the copy SES
stores (with the headers SES adds) and the event SES's Lambda action hands the function."""
