/** Texts shared by the live-audio tests and the time-to-first-audio bench. */

/** Ten short announcement sentences, as in the time-to-first-audio goal (DESIGN "Quality bars"). */
export const TEN_SENTENCES = [
  'Good morning.',
  'It is 7:15 and the outside temperature is 4.5 degrees.',
  'The washing machine has finished.',
  'Rain is expected in 20 minutes.',
  'Close the skylight in the attic.',
  'The dishwasher is done.',
  'You can unload it now.',
  'Battery low on the hallway smoke detector.',
  'Please replace it soon.',
  'Have a nice day.',
].join(' ');
