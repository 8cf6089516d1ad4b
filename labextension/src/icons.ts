import { LabIcon } from '@jupyterlab/ui-components';

import mlopsSvgstr from '../style/icons/mlops.svg';

/** The sidebar's icon: three stages flowing left to right. */
export const mlopsIcon = new LabIcon({ name: 'mlops-jupyter:mlops', svgstr: mlopsSvgstr });
